use super::*;

#[test]
fn the_draw_is_the_first_eight_hex_digits_as_envoy_reads_them() {
    assert_eq!(envoy_draw(b"5f0c8a5e-4a48-4a35-9a55-5d6a1a0b5a1c"), Some(0x5f0c_8a5e));
    assert_eq!(envoy_draw(b"5F0C8A5E-4A48-4A35-9A55-5D6A1A0B5A1C"), Some(0x5f0c_8a5e));
    assert_eq!(envoy_draw(b"00002710"), Some(10_000));
    for bad in [&b""[..], b"5f0c8a5", b"5f0c8a5g-0000", b"not-a-uuid", b" 5f0c8a5e"] {
        assert_eq!(envoy_draw(bad), None, "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn whole_percentages_are_envoys_test_exactly() {
    // 0x5f0c8a5e = 1594657374; % 10000 = 7374.
    let draw = 0x5f0c_8a5e;
    assert!(draw_keeps(draw, 0.7375), "bucket 7374 < 7375");
    assert!(!draw_keeps(draw, 0.7374), "bucket 7374 is not < 7374");
    assert!(draw_keeps(0, 0.0001) && !draw_keeps(1, 0.0001));
    assert!(!draw_keeps(0, 0.0), "a zero rate keeps nothing");
    assert!(draw_keeps(u32::MAX, 1.0), "rate 1 keeps everything");
}

#[test]
fn fractional_percentages_keep_a_subset_of_envoys_rounded_up_test_at_the_right_rate() {
    let rate = 0.123_45; // 1234.5 buckets of 10,000
    let (mut kept, mut envoy_kept) = (0u64, 0u64);
    let total = 2_000_000u64;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..total {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let draw = (state >> 32) as u32;
        let ours = draw_keeps(draw, rate);
        let envoys = draw % 10_000 < 1_235;
        assert!(!ours || envoys, "the filter keeps only what Envoy at ⌈rate⌉ records");
        kept += u64::from(ours);
        envoy_kept += u64::from(envoys);
    }
    let observed = kept as f64 / total as f64;
    // Binomial standard deviation at n = 2e6, p = 0.12345 is 0.00023; allow 5 of them.
    assert!((observed - rate).abs() < 0.0012, "observed {observed}");
    assert!(envoy_kept >= kept);
}
