#![no_main]
//! libFuzzer drives acgs_fuzz_targets::sampling_strategy.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    acgs_fuzz_targets::sampling_strategy(data);
});
