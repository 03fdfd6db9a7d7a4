#![no_main]
//! libFuzzer drives acgs_fuzz_targets::request_headers.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    acgs_fuzz_targets::request_headers(data);
});
