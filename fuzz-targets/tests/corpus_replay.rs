//! Every input of `fuzz/corpus/<target>/` (the seeds taken from the repo's real inputs, what the
//! fuzzer kept, and every crash it found, saved there as a regression) runs through its target on
//! stable: none may panic, and each target's corpus holds an input it accepts, so the fuzzer starts
//! from the deep path rather than from the parser's first refusal.

use std::path::Path;

use acgs_fuzz_targets::TARGETS;

#[test]
fn every_corpus_input_runs_through_its_target_without_a_panic() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    for (name, target) in TARGETS {
        let dir = corpus.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let (mut inputs, mut accepted) = (0, 0);
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let run = std::panic::catch_unwind(|| target(&data));
            let outcome = run.unwrap_or_else(|_| panic!("{name}: {} panics", path.display()));
            inputs += 1;
            accepted += usize::from(outcome);
        }
        assert!(inputs > 0, "{name}: an empty corpus");
        assert!(accepted > 0, "{name}: no input of the corpus is accepted ({inputs} refused)");
    }
}
