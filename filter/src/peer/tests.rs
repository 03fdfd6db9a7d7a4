use super::*;

#[test]
fn the_port_is_cut_from_ipv4_and_bracketed_ipv6_addresses() {
    assert_eq!(address_host(b"10.0.3.7:43000"), b"10.0.3.7");
    assert_eq!(address_host(b"[::1]:5000"), b"::1");
    assert_eq!(address_host(b"[fe80::1%eth0]:80"), b"fe80::1%eth0");
}

#[test]
fn what_has_no_port_is_kept_whole() {
    for address in
        [&b"fe80::1"[..], b"::1", b"10.0.3.7", b"/var/run/app.sock", b"@abstract", b"host:", b"host:http", b""]
    {
        assert_eq!(address_host(address), address, "{}", String::from_utf8_lossy(address));
    }
}
