//! The ClientHello parser on what real clients send (rustls's client here; openssl and curl in
//! tests/clients.rs), on hellos built byte by byte for the edges, and on any bytes.

use std::sync::Arc;

use proptest::prelude::*;

use super::*;

/// The first flight of a rustls client for `name` offering `alpn`.
fn rustls_hello(name: &str, alpn: &[&str]) -> Vec<u8> {
    let roots = rustls::RootCertStore::empty();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    let name = rustls::pki_types::ServerName::try_from(name.to_string()).expect("name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).expect("write_tls");
    }
    out
}

/// One handshake record (or several, `fragment` bytes each) holding a ClientHello with these parts.
fn framed(legacy: u16, suites: &[u16], extensions: &[(u16, Vec<u8>)], fragment: usize) -> Vec<u8> {
    let mut body = legacy.to_be_bytes().to_vec();
    body.extend([7u8; 32]);
    body.push(0); // no session id
    body.extend(u16::try_from(suites.len() * 2).expect("short").to_be_bytes());
    suites.iter().for_each(|s| body.extend(s.to_be_bytes()));
    body.extend([1, 0]); // null compression
    if !extensions.is_empty() {
        let mut exts = Vec::new();
        for (kind, data) in extensions {
            exts.extend(kind.to_be_bytes());
            exts.extend(u16::try_from(data.len()).expect("short").to_be_bytes());
            exts.extend(data);
        }
        body.extend(u16::try_from(exts.len()).expect("short").to_be_bytes());
        body.extend(exts);
    }
    let len = u32::try_from(body.len()).expect("short").to_be_bytes();
    let mut message = vec![1, len[1], len[2], len[3]];
    message.extend(body);
    records(&message, fragment)
}

fn records(message: &[u8], fragment: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in message.chunks(fragment) {
        out.extend([22, 3, 1]);
        out.extend(u16::try_from(chunk.len()).expect("short").to_be_bytes());
        out.extend(chunk);
    }
    out
}

/// A 2-byte-length list of 2-byte values (`vec8` for supported_versions).
fn list16(values: &[u16], vec8: bool) -> Vec<u8> {
    let mut out = if vec8 {
        vec![u8::try_from(values.len() * 2).expect("short")]
    } else {
        u16::try_from(values.len() * 2).expect("short").to_be_bytes().to_vec()
    };
    values.iter().for_each(|v| out.extend(v.to_be_bytes()));
    out
}

fn sni(name: &[u8]) -> Vec<u8> {
    let mut entry = vec![0];
    entry.extend(u16::try_from(name.len()).expect("short").to_be_bytes());
    entry.extend(name);
    let mut out = u16::try_from(entry.len()).expect("short").to_be_bytes().to_vec();
    out.extend(entry);
    out
}

fn hello_of(bytes: &[u8]) -> ClientHello {
    match parse(bytes) {
        Parsed::Hello(h) => h,
        other => panic!("not read as a ClientHello: {other:?}"),
    }
}

#[test]
fn a_rustls_client_hello_reads_as_it_was_sent() {
    let bytes = rustls_hello("example.com", &["h2", "http/1.1"]);
    let h = hello_of(&bytes);
    assert_eq!(h.legacy_version, TLS12);
    assert_eq!(h.versions, Some(vec![TLS13, TLS12]));
    assert_eq!(h.highest_version(), TLS13);
    let provider = rustls::crypto::ring::default_provider();
    let suites: Vec<u16> = provider.cipher_suites.iter().map(|s| u16::from(s.suite())).collect();
    // rustls adds the renegotiation SCSV (00FF) to its own suites.
    assert_eq!(h.cipher_suites.iter().filter(|c| **c != 0x00FF).copied().collect::<Vec<_>>(), suites);
    let groups: Vec<u16> = provider.kx_groups.iter().map(|g| u16::from(g.name())).collect();
    assert_eq!(h.groups, Some(groups));
    let sigalgs = h.signature_algorithms.clone().expect("signature_algorithms");
    assert!(sigalgs.contains(&0x0403) && sigalgs.contains(&0x0804), "{sigalgs:04X?}");
    assert_eq!(h.server_name.as_deref(), Some("example.com"));
    assert_eq!(h.alpn, Some(vec!["h2".to_string(), "http/1.1".to_string()]));
    assert!(!h.truncated);
}

#[test]
fn every_prefix_asks_for_more_and_bytes_after_the_hello_are_ignored() {
    let bytes = rustls_hello("example.com", &[]);
    for n in 0..bytes.len() {
        assert_eq!(parse(&bytes[..n]), Parsed::Incomplete, "prefix of {n} bytes");
    }
    let whole = hello_of(&bytes);
    let mut more = bytes.clone();
    more.extend([20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 5, 1, 2, 3, 4, 5]);
    assert_eq!(hello_of(&more), whole);
}

#[test]
fn a_hello_split_over_several_records_reads_the_same() {
    let bytes = rustls_hello("example.com", &["h2"]);
    let message = &bytes[5..];
    for fragment in [1, 7, 100, 512] {
        assert_eq!(hello_of(&records(message, fragment)), hello_of(&bytes), "{fragment}-byte records");
    }
}

#[test]
fn other_bytes_are_refused_at_once() {
    assert_eq!(parse(b"G"), Parsed::Unusable("not a TLS handshake record"));
    assert_eq!(parse(b"GET / HTTP/1.1\r\n"), Parsed::Unusable("not a TLS handshake record"));
    assert_eq!(parse(&[0x16, 0x02]), Parsed::Unusable("not a TLS record version"));
    // An SSLv2-format hello, as very old clients send.
    assert!(matches!(parse(&[0x80, 0x2e, 0x01, 0x03, 0x01]), Parsed::Unusable(_)));
    // A ServerHello (type 2) where a ClientHello belongs.
    assert!(matches!(parse(&[22, 3, 3, 0, 4, 2, 0, 0, 0]), Parsed::Unusable(_)));
    assert_eq!(parse(&[22, 3, 3, 0, 0]), Parsed::Unusable("bad TLS record length"));
    // An alert record after the first fragment of a hello.
    let bytes = framed(TLS12, &[0x1301], &[], 20);
    let mut cut = bytes[..25].to_vec();
    cut.extend([21, 3, 3, 0, 2, 2, 40]);
    assert_eq!(parse(&cut), Parsed::Unusable("not a TLS handshake record"));
}

#[test]
fn a_hello_longer_than_kept_is_refused_as_soon_as_its_length_shows() {
    let head = [22, 3, 1, 0x40, 0x00, 1, 0x00, 0x50, 0x00];
    assert_eq!(parse(&head[..8]), Parsed::Incomplete);
    assert_eq!(parse(&head), Parsed::Unusable("ClientHello longer than 16 KiB"));
}

#[test]
fn an_old_client_without_extensions_offers_its_legacy_version() {
    let h = hello_of(&framed(0x0301, &[0x002F, 0x0035], &[], 4096));
    assert_eq!((h.versions.clone(), h.highest_version()), (None, 0x0301));
    assert!(!h.offers_tls12() && !h.offers_tls13());
    assert_eq!(h.cipher_suites, vec![0x002F, 0x0035]);
    assert_eq!((h.groups, h.signature_algorithms, h.server_name, h.alpn), (None, None, None, None));
    let h12 = hello_of(&framed(TLS12, &[0xC02F], &[], 4096));
    assert!(h12.offers_tls12() && !h12.offers_tls13());
}

#[test]
fn grease_values_are_left_out() {
    let greases: Vec<u16> = (0..16u16).map(|i| (i << 12) | 0x0A00 | (i << 4) | 0x0A).collect();
    assert!(greases.iter().all(|g| is_grease(*g)));
    assert!(!is_grease(0x0A1A) && !is_grease(0x1301) && !is_grease(0x0A0B));
    let exts = [
        (43, list16(&[0x3A3A, TLS13, TLS12], true)),
        (10, list16(&[0xDADA, 29, 23], false)),
        (13, list16(&[0x0403, 0x7A7A], false)),
    ];
    let h = hello_of(&framed(TLS12, &[0x2A2A, 0x1301, 0xC02F], &exts, 4096));
    assert_eq!(h.cipher_suites, vec![0x1301, 0xC02F]);
    assert_eq!(h.versions, Some(vec![TLS13, TLS12]));
    assert_eq!(h.groups, Some(vec![29, 23]));
    assert_eq!(h.signature_algorithms, Some(vec![0x0403]));
}

#[test]
fn lists_and_names_are_capped_and_kept_printable() {
    let suites: Vec<u16> = (1..=300).collect();
    let long_name = vec![b'a'; 300];
    let alpn = {
        let mut names = Vec::new();
        for i in 0..20u8 {
            names.extend([2, b'p', b'0' + i % 10]);
        }
        let mut out = u16::try_from(names.len()).expect("short").to_be_bytes().to_vec();
        out.extend(names);
        out
    };
    let h = hello_of(&framed(TLS12, &suites, &[(0, sni(&long_name)), (16, alpn)], 4096));
    assert_eq!(h.cipher_suites.len(), MAX_LIST);
    assert_eq!(h.server_name.as_ref().map(String::len), Some(MAX_NAME));
    assert_eq!(h.alpn.as_ref().map(Vec::len), Some(MAX_ALPN));
    assert!(h.truncated);
    let odd = hello_of(&framed(TLS12, &[0x1301], &[(0, sni(b"A\x1b[31m\\b"))], 4096));
    assert_eq!(odd.server_name.as_deref(), Some("a\\x1B[31m\\x5Cb"), "lower case, escaped");
    assert!(!odd.truncated);
    let absolute = hello_of(&framed(TLS12, &[0x1301], &[(0, sni(b"Example.COM."))], 4096));
    assert_eq!(absolute.server_name.as_deref(), Some("example.com"), "as rustls hands it on");
}

#[test]
fn malformed_hellos_are_refused() {
    let odd_suites = {
        let mut b = framed(TLS12, &[0x1301, 0x1302], &[], 4096);
        // Cut the suites' length to 3 (odd) while the message length stays right.
        let at = 5 + 4 + 2 + 32 + 1;
        b[at..at + 2].copy_from_slice(&3u16.to_be_bytes());
        b
    };
    assert_eq!(parse(&odd_suites), Parsed::Unusable("malformed ClientHello"));
    let bad_ext = framed(TLS12, &[0x1301], &[(10, vec![0, 5, 0, 29])], 4096);
    assert_eq!(parse(&bad_ext), Parsed::Unusable("malformed ClientHello"));
    let no_suites = framed(TLS12, &[], &[], 4096);
    assert_eq!(parse(&no_suites), Parsed::Unusable("malformed ClientHello"));
}

proptest! {
    #[test]
    fn any_bytes_give_an_answer_and_a_decision_never_changes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let full = parse(&data);
        if let Parsed::Hello(h) = &full {
            prop_assert!(h.cipher_suites.len() <= MAX_LIST);
        }
        for n in 0..data.len() {
            match parse(&data[..n]) {
                Parsed::Incomplete => {}
                decided => prop_assert_eq!(&decided, &full, "prefix of {} bytes decided otherwise", n),
            }
        }
    }

    #[test]
    fn a_real_hello_with_random_bytes_flipped_never_panics(at in 0usize..400, byte in any::<u8>()) {
        let mut bytes = rustls_hello("example.com", &["h2"]);
        let i = at % bytes.len();
        bytes[i] = byte;
        let _ = parse(&bytes);
    }
}
