#![no_main]
//! libFuzzer drives acgs_fuzz_targets::strategies_file.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    acgs_fuzz_targets::strategies_file(data);
});
