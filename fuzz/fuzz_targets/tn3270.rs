//! Fuzz target `tn3270`: the TN3270 START_TLS decision (`attls::tn3270::negotiate::Negotiator`, with
//! the telnet parser under it) driven by a script decoded from the input with `arbitrary`: the
//! listener's `ConnType`, whether a TLS rule applies, and client reads (telnet pieces as TN3270
//! clients send them, or any bytes) mixed with the `StartTlsWait` end, end of stream and the
//! negotiation deadline. The byte format is in docs/fuzzing.md.
//!
//! Asserts: no panic; exactly one final step (`StartTlsNow`, `Clear` or `Close`) at most, last in
//! its call, and nothing at all afterwards (the decision and `how()` never change); `Clear` only
//! under `Any` or `Basic` (never under `NegTSecure` or `Secure`), forwarding only bytes the client
//! sent, in order; TLS only with a TLS rule and never under `Basic`; a direct start only under
//! `Secure`/`Any` on a stream that begins `16 03 00..=04`, before any offer; a negotiated start
//! only after our FOLLOWS; `StartTlsNow` hands on a suffix of what the client sent; attls sends
//! only `DO START_TLS`, `WONT START_TLS` and FOLLOWS, each at most once. The same client bytes in
//! one read, one byte per read, or reads of 1 to 16 bytes give the same decision and the same
//! bytes handed on.

#![no_main]

use arbitrary::Unstructured;
use attls::tn3270::negotiate::{How, Negotiator, Phase, Step};
use attls::tn3270::settings::ConnType;
use attls::tn3270::telnet::{DO, IAC, START_TLS, WONT, start_tls_follows};
use attls_fuzz::tn_script::{Event, Script};
use attls_fuzz::{fnv1a, is_subsequence, reads};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let script = Script::decode(&mut Unstructured::new(data));
    let mut c = Checker::new(&script);
    let steps = c.n.on_accept();
    c.check(&steps);
    for event in &script.events {
        let steps = match event {
            Event::Bytes(b) => {
                c.sent.extend_from_slice(b);
                c.n.on_client_bytes(b)
            }
            Event::WaitExpired => c.n.on_wait_expired(),
            Event::Eof => c.n.on_client_eof(),
            Event::Timeout => c.n.on_negotiation_timeout(),
        };
        c.check(&steps);
    }
    let stream = script.stream();
    let whole = outcome(&script, [stream.as_slice()]);
    assert_eq!(whole, outcome(&script, stream.chunks(1)), "one read and one byte per read differ");
    assert_eq!(whole, outcome(&script, reads(&stream, fnv1a(data))), "one read and short reads differ");
});

/// The invariants of one connection, checked after every call.
struct Checker {
    conn_type: ConnType,
    tls: bool,
    n: Negotiator,
    /// Everything the client sent so far.
    sent: Vec<u8>,
    final_step: Option<(Step, Option<How>)>,
    sends: Vec<Vec<u8>>,
}

impl Checker {
    fn new(script: &Script) -> Checker {
        Checker {
            conn_type: script.conn_type,
            tls: script.tls_available,
            n: Negotiator::new(script.conn_type, script.tls_available),
            sent: Vec::new(),
            final_step: None,
            sends: Vec::new(),
        }
    }

    fn check(&mut self, steps: &[Step]) {
        if let Some((_, how)) = &self.final_step {
            assert!(steps.is_empty(), "steps after the decision: {steps:?}");
            assert_eq!(self.n.how(), how.as_ref(), "how() changed after the decision");
            assert_eq!(self.n.phase(), Phase::Decided);
            return;
        }
        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::Send(bytes) => self.send(bytes),
                last => {
                    assert_eq!(i + 1, steps.len(), "a step after the final one: {steps:?}");
                    self.decided(last);
                }
            }
        }
        assert_eq!(self.n.phase() == Phase::Decided, self.final_step.is_some(), "{steps:?}");
    }

    fn send(&mut self, bytes: &[u8]) {
        let known = [vec![IAC, DO, START_TLS], vec![IAC, WONT, START_TLS], start_tls_follows()];
        assert!(known.iter().any(|k| k == bytes), "attls sent {bytes:?}");
        assert!(!self.sends.iter().any(|s| s == bytes), "sent twice: {bytes:?}");
        if bytes == start_tls_follows() {
            assert!(self.sends.contains(&vec![IAC, DO, START_TLS]), "FOLLOWS before DO START_TLS");
        }
        self.sends.push(bytes.to_vec());
    }

    fn decided(&mut self, step: &Step) {
        let ct = self.conn_type;
        let how = self.n.how().cloned();
        match step {
            Step::StartTlsNow { leftover } => {
                assert!(self.tls, "TLS without a TLS rule");
                assert!(!matches!(ct, ConnType::Basic | ConnType::None), "TLS under ConnType {ct}");
                assert!(self.sent.ends_with(leftover), "leftover is not what the client sent last");
                match how {
                    Some(How::Direct) => {
                        assert!(matches!(ct, ConnType::Secure | ConnType::Any), "direct TLS under {ct}");
                        assert!(self.sends.is_empty(), "direct TLS after an offer");
                        assert_eq!(leftover, &self.sent, "direct TLS leaves bytes behind");
                        assert!(matches!(self.sent.as_slice(), [0x16, 0x03, v, ..] if *v <= 0x04));
                    }
                    Some(How::Negotiated) => {
                        assert!(self.sends.contains(&start_tls_follows()), "TLS without our FOLLOWS");
                    }
                    other => panic!("StartTlsNow with how() {other:?}"),
                }
            }
            Step::Clear { forward } => {
                assert!(ct.allows_clear(), "clear under ConnType {ct}");
                assert!(matches!(how, Some(How::Clear(_))), "{how:?}");
                assert!(is_subsequence(forward, &self.sent), "forwarded bytes the client did not send");
                if ct == ConnType::Basic {
                    assert!(forward.is_empty() && self.sends.is_empty());
                }
            }
            Step::Close { why } => {
                assert!(!why.is_empty());
                assert_eq!(how, None);
            }
            Step::Send(_) => unreachable!(),
        }
        self.final_step = Some((step.clone(), how));
    }
}

/// What a connection that sends `reads` and then closes comes to: what attls sent, the decision,
/// and the client bytes handed on (TLS leftover or clear forward, then every later read).
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    sends: Vec<Vec<u8>>,
    decision: Option<Step>,
    how: Option<How>,
    handed_on: Vec<u8>,
}

fn outcome<'a>(script: &Script, reads: impl IntoIterator<Item = &'a [u8]>) -> Outcome {
    let mut n = Negotiator::new(script.conn_type, script.tls_available);
    let mut steps = n.on_accept();
    let mut handed_on = Vec::new();
    for read in reads {
        if n.phase() == Phase::Decided {
            handed_on.extend_from_slice(read);
        } else {
            steps.extend(n.on_client_bytes(read));
        }
    }
    steps.extend(n.on_client_eof());
    let mut decision = steps.pop();
    let sends = steps
        .into_iter()
        .map(|s| if let Step::Send(b) = s { b } else { panic!("{s:?} before the end") })
        .collect();
    let on = match &mut decision {
        Some(Step::StartTlsNow { leftover }) => [std::mem::take(leftover), handed_on].concat(),
        Some(Step::Clear { forward }) => [std::mem::take(forward), handed_on].concat(),
        // A closed connection hands nothing on; where it closed depends on the reads.
        _ => Vec::new(),
    };
    Outcome { sends, decision, how: n.how().cloned(), handed_on: on }
}
