#![no_main]
//! libFuzzer drives acgs_fuzz_targets::telemetry_batch.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    acgs_fuzz_targets::telemetry_batch(data);
});
