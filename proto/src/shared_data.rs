//! Keys of the filter's Envoy shared data (`proxy_set_shared_data`), which every VM of one Envoy
//! process shares: one VM polls the control plane under the lease and writes the strategy record,
//! and every VM applies the record it reads. An embedder running the filter (the demo) watches the
//! strategy record to see when a new strategy is in force.

/// The polling lease (which VM polls the control plane, and until when).
pub const LEASE_KEY: &str = "acgs.sampling.lease";
/// The last strategy fetched from the control plane, as a record `<etag>\n<body>`.
pub const STRATEGY_KEY: &str = "acgs.sampling.strategy";

/// The strategy record: the control plane's `ETag` (as its header carried it), a newline, the
/// strategy's JSON body.
pub fn encode_strategy_record(etag: &[u8], body: &[u8]) -> Vec<u8> {
    let mut record = Vec::with_capacity(etag.len() + 1 + body.len());
    record.extend_from_slice(etag);
    record.push(b'\n');
    record.extend_from_slice(body);
    record
}

/// (etag, body) of a strategy record; `None` when it has no newline.
pub fn decode_strategy_record(record: &[u8]) -> Option<(&[u8], &[u8])> {
    let split = record.iter().position(|b| *b == b'\n')?;
    Some((&record[..split], &record[split + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_splits_at_its_first_newline_into_etag_and_body() {
        let record = encode_strategy_record(b"\"abc\"", b"{\"x\":\n1}");
        assert_eq!(record, b"\"abc\"\n{\"x\":\n1}");
        assert_eq!(decode_strategy_record(&record), Some((&b"\"abc\""[..], &b"{\"x\":\n1}"[..])));
        assert_eq!(decode_strategy_record(b"no newline"), None);
    }
}
