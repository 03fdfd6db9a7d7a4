#![no_main]
//! libFuzzer drives acgs_fuzz_targets::policy_merge.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    acgs_fuzz_targets::policy_merge(data);
});
