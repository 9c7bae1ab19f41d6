//! Fuzz target `client_hello`: the client inventory's ClientHello parser
//! (`attls::inventory::hello::parse`, docs/clients.md), on its own and against rustls's parser.
//!
//! Asserts: no panic; every list within `MAX_LIST` values and without GREASE, at most `MAX_ALPN`
//! ALPN names, names printable (`!`..`~`, other bytes as `\xNN`) and at most `MAX_NAME` bytes
//! read; the engine's read-ahead (a parse after each read of 1 to 16 bytes) decides at the first
//! read that decides, and decides what the whole input decides; and whenever rustls's `Acceptor`
//! takes the bytes as a ClientHello of at most `MAX_HELLO` bytes, the parser reads one too, with
//! the same cipher suites, signature algorithms, groups and ALPN names (GREASE left out, lists cut
//! at the caps) and, where rustls reads a server name, the same name.

#![no_main]

use attls::inventory::hello::{
    ClientHello, MAX_ALPN, MAX_HELLO, MAX_LIST, MAX_NAME, Parsed, is_grease, parse,
};
use attls_fuzz::{fnv1a, reads};
use libfuzzer_sys::fuzz_target;

fn printable(name: &str) -> bool {
    name.len() <= 4 * MAX_NAME && name.bytes().all(|b| (0x21..=0x7E).contains(&b))
}

fn check_bounds(h: &ClientHello) {
    let lists =
        [Some(&h.cipher_suites), h.versions.as_ref(), h.groups.as_ref(), h.signature_algorithms.as_ref()];
    for list in lists.into_iter().flatten() {
        assert!(list.len() <= MAX_LIST, "a list of {} values", list.len());
        assert!(!list.iter().any(|v| is_grease(*v)), "GREASE kept: {list:04X?}");
    }
    let alpn = h.alpn.as_deref().unwrap_or_default();
    assert!(alpn.len() <= MAX_ALPN && alpn.iter().all(|a| printable(a)), "{alpn:?}");
    assert!(h.server_name.as_deref().is_none_or(printable), "{:?}", h.server_name);
}

/// The first decision of the read-ahead, fed `data` in reads of 1 to 16 bytes.
fn read_ahead(data: &[u8]) -> Parsed {
    let mut seen = 0;
    for read in reads(data, fnv1a(data)) {
        seen += read.len();
        match parse(&data[..seen]) {
            Parsed::Incomplete => {}
            decided => return decided,
        }
    }
    Parsed::Incomplete
}

/// rustls's values as the inventory keeps them: GREASE left out, at most `MAX_LIST`.
fn kept(values: impl Iterator<Item = u16>) -> Vec<u16> {
    values.filter(|v| !is_grease(*v)).take(MAX_LIST).collect()
}

fn compare_with_rustls(data: &[u8], ours: &Parsed) {
    let mut acceptor = rustls::server::Acceptor::default();
    let mut rest = data;
    while !rest.is_empty() {
        match acceptor.read_tls(&mut rest) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let Ok(Some(accepted)) = acceptor.accept() else { return };
    let theirs = accepted.client_hello();
    let Parsed::Hello(h) = ours else {
        // rustls reads a longer hello than the inventory keeps.
        let long = data.len() > MAX_HELLO;
        assert!(long, "rustls reads a ClientHello the parser refuses: {ours:?}");
        return;
    };
    assert_eq!(h.cipher_suites, kept(theirs.cipher_suites().iter().map(|c| u16::from(*c))));
    let schemes = kept(theirs.signature_schemes().iter().map(|s| u16::from(*s)));
    assert_eq!(h.signature_algorithms.clone().unwrap_or_default(), schemes);
    let groups = theirs.named_groups().map(|g| kept(g.iter().map(|n| u16::from(*n))));
    assert_eq!(h.groups, groups);
    let alpn: Option<Vec<Vec<u8>>> = theirs.alpn().map(|a| a.map(<[u8]>::to_vec).take(MAX_ALPN).collect());
    let ours_alpn = h.alpn.as_ref().map(|a| a.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>());
    if alpn.as_ref().is_some_and(|a| {
        a.iter().all(|p| p.len() <= MAX_NAME && p.iter().all(|b| (0x21..=0x7E).contains(b) && *b != b'\\'))
    }) {
        assert_eq!(ours_alpn, alpn);
    }
    if let Some(name) = theirs.server_name() {
        assert_eq!(h.server_name.as_deref(), Some(name));
    }
}

fuzz_target!(|data: &[u8]| {
    let whole = parse(data);
    if let Parsed::Hello(h) = &whole {
        check_bounds(h);
    }
    let early = read_ahead(data);
    if early != Parsed::Incomplete {
        assert_eq!(early, whole, "the read-ahead decided otherwise than the whole input");
    }
    compare_with_rustls(data, &whole);
});
