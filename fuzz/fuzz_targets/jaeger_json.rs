#![no_main]
//! libFuzzer drives acgs_fuzz_targets::jaeger_json.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    acgs_fuzz_targets::jaeger_json(data);
});
