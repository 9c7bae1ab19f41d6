//! Fuzz target `first_bytes`: the two places that decide from a connection's first bytes whether a
//! TLS handshake starts, against a reference definition: `attls::engine::starts_handshake_record`
//! (D29, the early ClientHello of application-controlled connections) and the TN3270 direct-TLS
//! detection (`Negotiator::on_first_bytes` under `ConnType Secure`).
//!
//! Reference: a handshake record starts `16 03 00` up to `16 03 04` (docs/decisions.md, D29).
//! Asserts that `starts_handshake_record` is exactly the reference; that the TN3270 detection stays
//! undecided on a strict prefix of a record start (`[]`, `16`, `16 03`), starts TLS with every byte
//! read as leftover on a record start, and otherwise offers START_TLS; and that it decides the same
//! whether the bytes come in one read or one byte per read.
//!
//! Found by this target and fixed: the two used to differ on `16 03 00` (the TN3270 side took it,
//! D29 did not); both now use the one definition. fuzz/regressions/first_bytes/ keeps the input.

#![no_main]

use attls::engine::starts_handshake_record;
use attls::tn3270::negotiate::{How, Negotiator, Phase, Step};
use attls::tn3270::settings::ConnType;
use attls::tn3270::telnet::{DO, IAC, START_TLS};
use libfuzzer_sys::fuzz_target;

/// The reference: `16 03 00`..`16 03 04`.
fn reference(bytes: &[u8]) -> bool {
    matches!(bytes, [0x16, 0x03, 0x00..=0x04, ..])
}

/// What the TN3270 detection does with its first read(s).
#[derive(Debug, PartialEq, Eq)]
enum Direct {
    Undecided,
    Tls(Vec<u8>),
    Offered,
}

fn tn3270<'a>(reads: impl IntoIterator<Item = &'a [u8]>) -> Direct {
    let mut n = Negotiator::new(ConnType::Secure, true);
    assert!(n.on_accept().is_empty());
    assert_eq!(n.phase(), Phase::WaitFirstBytes);
    for read in reads {
        let steps = n.on_first_bytes(read);
        match steps.first() {
            None => assert_eq!(n.phase(), Phase::WaitFirstBytes, "no step, yet no longer waiting"),
            Some(Step::StartTlsNow { leftover }) => {
                assert_eq!(steps.len(), 1);
                assert_eq!(n.how(), Some(&How::Direct));
                return Direct::Tls(leftover.clone());
            }
            Some(Step::Send(b)) if b == &[IAC, DO, START_TLS] => return Direct::Offered,
            Some(other) => panic!("first bytes gave {other:?}"),
        }
    }
    Direct::Undecided
}

fuzz_target!(|data: &[u8]| {
    assert_eq!(
        starts_handshake_record(data),
        reference(data),
        "applctl on {:02x?}",
        &data[..data.len().min(3)]
    );
    let whole = tn3270([data]);
    let expect = match data {
        [] | [0x16] | [0x16, 0x03] => Direct::Undecided,
        _ if reference(data) => Direct::Tls(data.to_vec()),
        _ => Direct::Offered,
    };
    assert_eq!(whole, expect, "TN3270 on {:02x?}", &data[..data.len().min(3)]);
    let bytewise = tn3270(data.chunks(1));
    let expect_bytewise = match whole {
        // One byte per read: TLS starts at the third byte, the rest follows once TLS reads it.
        Direct::Tls(_) => Direct::Tls(data[..3].to_vec()),
        other => other,
    };
    assert_eq!(bytewise, expect_bytewise, "one read and one byte per read differ");
});
