#![no_main]
//! libFuzzer drives acgs_fuzz_targets::filter_json.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    acgs_fuzz_targets::filter_json(data);
});
