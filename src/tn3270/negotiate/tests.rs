//! Unit tests of the START_TLS decision: every ConnType, every split of what s3270 and
//! `openssl s_client -starttls telnet` send, and a property test that no input panics.

use super::*;
use crate::tn3270::telnet::{IAC, SB, SE, TERMINAL_TYPE, WILL, command, start_tls_follows};
use proptest::prelude::*;

/// What s3270 4.1 and `openssl s_client -starttls telnet` send in one segment after `IAC DO
/// START_TLS` (captured): WILL and FOLLOWS back to back. The ClientHello comes only after our FOLLOWS.
const WILL_FOLLOWS: [u8; 9] = [0xFF, 0xFB, 0x2E, 0xFF, 0xFA, 0x2E, 0x01, 0xFF, 0xF0];

/// The start of a TLS 1.2+ ClientHello record.
fn hello() -> Vec<u8> {
    let mut h = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03];
    h.extend((0u8..40).map(|i| i.wrapping_mul(37)));
    h
}

fn do_start_tls() -> Step {
    Step::Send(vec![IAC, 0xFD, START_TLS])
}

fn follows() -> Step {
    Step::Send(start_tls_follows())
}

fn accepted(ct: ConnType, tls: bool) -> Negotiator {
    let mut n = Negotiator::new(ct, tls);
    let steps = n.on_accept();
    let expect_wait = matches!(ct, ConnType::Secure | ConnType::Any) && tls;
    assert_eq!(n.phase() == Phase::WaitFirstBytes, expect_wait, "{ct} {steps:?}");
    n
}

fn why(steps: &[Step]) -> &str {
    match steps.last() {
        Some(Step::Close { why }) => why,
        other => panic!("expected Close, got {other:?}"),
    }
}

#[test]
fn direct_client_hello_starts_tls_at_once() {
    for ct in [ConnType::Secure, ConnType::Any] {
        let mut n = accepted(ct, true);
        assert_eq!(n.on_first_bytes(&hello()), vec![Step::StartTlsNow { leftover: hello() }]);
        assert_eq!(n.how(), Some(&How::Direct));
        assert_eq!(n.phase(), Phase::Decided);
        assert_eq!(n.on_client_bytes(b"more"), vec![], "nothing after the decision");
    }
}

#[test]
fn direct_client_hello_split_in_its_first_bytes() {
    for cut in 1..3 {
        let mut n = accepted(ConnType::Secure, true);
        assert_eq!(n.on_first_bytes(&hello()[..cut]), vec![], "undecided after {cut} bytes");
        assert_eq!(n.on_first_bytes(&hello()[cut..]), vec![Step::StartTlsNow { leftover: hello() }]);
    }
}

#[test]
fn other_first_byte_offers_at_once() {
    for first in [&[IAC, WILL, TERMINAL_TYPE][..], b"x", &[0x16, 0x02], &[0x16, 0x03, 0x05]] {
        let mut n = accepted(ConnType::Secure, true);
        assert_eq!(n.on_first_bytes(first)[0], do_start_tls(), "{first:?}");
        assert_eq!(n.phase(), Phase::Offered);
    }
}

#[test]
fn silence_offers_when_the_wait_ends() {
    let mut n = accepted(ConnType::Any, true);
    assert_eq!(n.on_wait_expired(), vec![do_start_tls()]);
    assert_eq!(n.on_wait_expired(), vec![], "offered once");
    assert_eq!(n.on_client_bytes(&WILL_FOLLOWS[..3]), vec![follows()]);
    assert_eq!(n.phase(), Phase::AwaitFollows);
    assert_eq!(n.how(), None);
}

/// The captured sequence, cut at every position and byte by byte, ClientHello in the last read.
#[test]
fn will_and_follows_split_anywhere() {
    let mut stream = WILL_FOLLOWS.to_vec();
    stream.extend(hello());
    for cut in 0..=stream.len() {
        for ct in [ConnType::Secure, ConnType::NegTSecure, ConnType::Any] {
            let mut n = Negotiator::new(ct, true);
            let mut steps = n.on_accept();
            steps.extend(n.on_wait_expired());
            let mut after = Vec::new();
            for piece in [&stream[..cut], &stream[cut..]] {
                if n.phase() == Phase::Decided {
                    after.extend_from_slice(piece);
                } else {
                    steps.extend(n.on_client_bytes(piece));
                }
            }
            let Some(Step::StartTlsNow { leftover }) = steps.pop() else { panic!("cut {cut}: {steps:?}") };
            assert_eq!(steps, vec![do_start_tls(), follows()], "cut {cut} {ct}");
            assert_eq!([leftover, after].concat(), hello(), "cut {cut}");
            assert_eq!(n.how(), Some(&How::Negotiated));
        }
    }
    let mut n = accepted(ConnType::Secure, true);
    let mut steps = n.on_wait_expired();
    for b in &WILL_FOLLOWS {
        steps.extend(n.on_client_bytes(&[*b]));
    }
    assert_eq!(steps, vec![do_start_tls(), follows(), Step::StartTlsNow { leftover: vec![] }]);
}

#[test]
fn follows_is_sent_only_after_will() {
    let mut n = accepted(ConnType::NegTSecure, true);
    assert_eq!(n.on_client_bytes(&[IAC, WILL]), vec![]);
    assert_eq!(n.on_client_bytes(&[START_TLS]), vec![follows()]);
    assert_eq!(n.on_client_bytes(&WILL_FOLLOWS[..3]), vec![], "a second WILL changes nothing");
    assert_eq!(n.on_client_bytes(&WILL_FOLLOWS[3..]), vec![Step::StartTlsNow { leftover: vec![] }]);

    let mut n = accepted(ConnType::NegTSecure, true);
    let steps = n.on_client_bytes(&start_tls_follows());
    assert_eq!(why(&steps), "client sent START_TLS FOLLOWS before WILL START_TLS");
}

#[test]
fn negtsecure_offers_at_accept() {
    let mut n = Negotiator::new(ConnType::NegTSecure, true);
    assert_eq!(n.on_accept(), vec![do_start_tls()]);
    assert_eq!(n.phase(), Phase::Offered);
    assert_eq!(n.on_wait_expired(), vec![]);
    // Without on_accept, the first input does it.
    let mut n = Negotiator::new(ConnType::NegTSecure, true);
    let steps = n.on_client_bytes(&WILL_FOLLOWS);
    assert_eq!(steps, vec![do_start_tls(), follows(), Step::StartTlsNow { leftover: vec![] }]);
}

#[test]
fn refusal_closes_secure_and_negtsecure() {
    let cases = [
        (ConnType::Secure, command(Verb::Wont, START_TLS), "(WONT) and ConnType Secure requires TLS"),
        (ConnType::NegTSecure, command(Verb::Wont, START_TLS), "(WONT) and ConnType NegTSecure requires TLS"),
        (ConnType::Secure, command(Verb::Dont, START_TLS), "(DONT) and ConnType Secure requires TLS"),
    ];
    for (ct, reply, tail) in cases {
        let mut n = accepted(ct, true);
        let mut steps = n.on_wait_expired();
        steps.extend(n.on_client_bytes(&reply));
        assert_eq!(why(&steps), format!("client refused START_TLS {tail}"));
        assert_eq!(n.how(), None);
    }
    let mut n = accepted(ConnType::Secure, true);
    let steps = n.on_first_bytes(&[IAC, SB, START_TLS, 9, IAC, SE]);
    assert!(why(&steps).contains("unknown START_TLS subnegotiation"), "{steps:?}");
}

#[test]
fn any_refusal_forwards_earlier_bytes_in_order() {
    let mut n = accepted(ConnType::Any, true);
    let ttype = command(Verb::Will, TERMINAL_TYPE);
    let mut first = ttype.to_vec();
    first.extend([b'a', IAC, IAC, b'b']);
    let mut steps = n.on_first_bytes(&first);
    let mut read = vec![IAC, SB, TERMINAL_TYPE];
    steps.extend(n.on_client_bytes(&read));
    read = vec![0, b'X', IAC, SE, IAC, 0xFC, START_TLS, b'c', IAC];
    steps.extend(n.on_client_bytes(&read));
    let mut forward = first.clone();
    forward.extend([IAC, SB, TERMINAL_TYPE, 0, b'X', IAC, SE, b'c', IAC]);
    assert_eq!(steps, vec![do_start_tls(), Step::Clear { forward }]);
    let why = "client refused START_TLS (WONT); ConnType Any goes on in clear";
    assert_eq!(n.how(), Some(&How::Clear(why.into())));
    assert_eq!(n.how().map(How::word), Some("Clear"));
}

#[test]
fn earlier_bytes_are_dropped_when_tls_follows() {
    let mut n = accepted(ConnType::Secure, true);
    let mut input = command(Verb::Will, TERMINAL_TYPE).to_vec();
    input.extend(b"typed");
    input.extend(WILL_FOLLOWS);
    input.extend(b"\x16\x03\x03");
    let steps = n.on_first_bytes(&input);
    let leftover = b"\x16\x03\x03".to_vec();
    assert_eq!(steps, vec![do_start_tls(), follows(), Step::StartTlsNow { leftover }]);
}

#[test]
fn no_tls_rule() {
    for ct in [ConnType::Secure, ConnType::NegTSecure] {
        let mut n = Negotiator::new(ct, false);
        let steps = n.on_accept();
        assert_eq!(
            why(&steps),
            format!("no TLS rule applies (no TTLSRule, or TTLSEnabled Off) and ConnType {ct} requires TLS")
        );
    }
    let mut n = Negotiator::new(ConnType::Any, false);
    assert_eq!(n.on_accept(), vec![Step::Clear { forward: vec![] }]);
    assert!(matches!(n.how(), Some(How::Clear(w)) if w.contains("ConnType Any goes on in clear")));
}

#[test]
fn basic_and_none_decide_at_accept() {
    for tls in [true, false] {
        let mut n = Negotiator::new(ConnType::Basic, tls);
        assert_eq!(n.on_accept(), vec![Step::Clear { forward: vec![] }]);
        assert_eq!(n.how(), Some(&How::Clear("ConnType Basic allows clear only".into())));
        assert_eq!(n.on_first_bytes(&hello()), vec![]);
        let mut n = Negotiator::new(ConnType::None, tls);
        assert_eq!(why(&n.on_accept()), "ConnType None rejects every connection");
        assert_eq!(n.on_accept(), vec![]);
    }
}

#[test]
fn late_client_hello_closes() {
    let mut n = accepted(ConnType::Any, true);
    let mut steps = n.on_first_bytes(&[0x16]);
    steps.extend(n.on_wait_expired());
    steps.extend(n.on_client_bytes(&hello()[1..]));
    assert!(why(&steps).contains("after StartTlsWait ended"), "{steps:?}");
    let mut n = accepted(ConnType::NegTSecure, true);
    assert!(why(&n.on_client_bytes(&hello())).contains("NegTSecure negotiates only"));
}

#[test]
fn client_do_start_tls_is_refused_once() {
    let mut n = accepted(ConnType::NegTSecure, true);
    let d = command(Verb::Do, START_TLS);
    let wont = Step::Send(command(Verb::Wont, START_TLS).to_vec());
    assert_eq!(n.on_client_bytes(&[d, d].concat()), vec![wont]);
    assert_eq!(n.phase(), Phase::Offered);
}

#[test]
fn limits_and_bad_telnet_close() {
    let mut n = accepted(ConnType::Any, true);
    let mut steps = n.on_wait_expired();
    steps.extend(n.on_client_bytes(&vec![b'x'; MAX_PENDING]));
    assert_eq!(steps, vec![do_start_tls()]);
    assert!(why(&n.on_client_bytes(b"y")).contains("more than 4096 bytes"));
    let mut n = accepted(ConnType::Any, true);
    let steps = n.on_first_bytes(&[IAC, SB, TERMINAL_TYPE, IAC, WILL]);
    assert!(why(&steps).starts_with("client sent a malformed telnet sequence"), "{steps:?}");
}

#[test]
fn eof_and_timeout() {
    let mut n = accepted(ConnType::Secure, true);
    assert!(why(&n.on_client_eof()).contains("closed the connection"));
    assert_eq!(n.on_client_eof(), vec![]);
    let mut n = accepted(ConnType::Any, true);
    n.on_wait_expired();
    n.on_client_bytes(b"hi");
    assert_eq!(n.on_negotiation_timeout(), vec![Step::Clear { forward: b"hi".to_vec() }]);
    let mut n = accepted(ConnType::Secure, true);
    n.on_wait_expired();
    assert!(why(&n.on_negotiation_timeout()).contains("ConnType Secure requires TLS"));
    let mut n = accepted(ConnType::Any, true);
    n.on_wait_expired();
    n.on_client_bytes(&WILL_FOLLOWS[..3]);
    assert!(why(&n.on_negotiation_timeout()).contains("no FOLLOWS"));
}

fn conn_type() -> impl Strategy<Value = ConnType> {
    prop_oneof![
        Just(ConnType::Secure),
        Just(ConnType::NegTSecure),
        Just(ConnType::Any),
        Just(ConnType::Basic),
        Just(ConnType::None),
    ]
}

/// Bytes biased towards telnet and TLS so the interesting paths are reached.
fn chunk() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => Just(IAC), 1 => Just(SB), 1 => Just(SE), 2 => Just(WILL), 1 => Just(0xFC), 1 => Just(0xFD),
        1 => Just(0xFE), 3 => Just(START_TLS), 2 => Just(FOLLOWS), 1 => Just(0x16), 1 => Just(0x03),
        3 => any::<u8>(),
    ];
    proptest::collection::vec(byte, 0..24)
}

proptest! {
    #[test]
    fn no_input_panics_and_one_final_step(ct in conn_type(), tls in any::<bool>(),
                                          ops in proptest::collection::vec((0u8..6, chunk()), 0..12)) {
        let mut n = Negotiator::new(ct, tls);
        let mut steps = Vec::new();
        let mut fed: Vec<u8> = Vec::new();
        for (op, bytes) in ops {
            let feeds = matches!(op, 1 | 2) || (op >= 4 && bytes.len() % 5 != 0);
            if feeds {
                fed.extend_from_slice(&bytes);
            }
            let more = match op {
                0 => n.on_accept(),
                1 => n.on_first_bytes(&bytes),
                2 => n.on_client_bytes(&bytes),
                3 => n.on_wait_expired(),
                _ if feeds => n.on_client_bytes(&bytes),
                4 => n.on_client_eof(),
                _ => n.on_negotiation_timeout(),
            };
            if more.iter().any(|s| *s == follows()) {
                prop_assert!(fed.windows(3).any(|w| w == [IAC, WILL, START_TLS]), "FOLLOWS before WILL");
            }
            steps.extend(more);
        }
        let finals = steps.iter().filter(|s| !matches!(s, Step::Send(_))).count();
        prop_assert!(finals <= 1, "{steps:?}");
        if let Some(last) = steps.iter().rposition(|s| !matches!(s, Step::Send(_))) {
            prop_assert_eq!(last, steps.len() - 1, "nothing after the final step");
            prop_assert_eq!(n.phase(), Phase::Decided);
        }
        let went_on = steps.iter().any(|s| matches!(s, Step::StartTlsNow { .. } | Step::Clear { .. }));
        prop_assert_eq!(n.how().is_some(), went_on);
    }
}
