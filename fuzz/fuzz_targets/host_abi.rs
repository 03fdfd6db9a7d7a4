#![no_main]
//! libFuzzer drives acgs_fuzz_targets::host_abi.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    acgs_fuzz_targets::host_abi(data);
});
