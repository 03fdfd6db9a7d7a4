use proptest::prelude::*;

use super::*;

/// The field as prost writes it: what every reader of the schema decodes.
fn by_prost(field: u32, value: u64) -> Vec<u8> {
    let mut expected = Vec::new();
    if value != 0 {
        prost::encoding::encode_key(field, prost::encoding::WireType::Varint, &mut expected);
        prost::encoding::encode_varint(value, &mut expected);
    }
    expected
}

#[test]
fn varints_of_every_length_are_written_as_prost_writes_them() {
    let mut lengths = Vec::new();
    for value in [0, 1, 127, 128, 16_383, 16_384, 1_733_400_000_123_456_789, (1 << 56) - 1, 1 << 56, 1 << 63, u64::MAX]
    {
        let mut buf = vec![0xAA];
        put_varint(field::START, value, &mut buf);
        assert_eq!(buf[1..], by_prost(field::START, value), "{value}");
        lengths.push(buf.len() - 1);
    }
    assert_eq!(lengths, [0, 2, 2, 3, 3, 4, 10, 9, 10, 11, 11]);
}

proptest! {
    #[test]
    fn any_varint_is_written_as_prost_writes_it(value in any::<u64>(), shift in 0u32..64) {
        let value = value >> shift;
        let mut buf = Vec::new();
        put_varint(field::END, value, &mut buf);
        prop_assert_eq!(buf, by_prost(field::END, value));
    }
}
