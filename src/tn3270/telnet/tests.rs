//! Unit tests of the telnet parser: every split of a stream gives the same events.

use super::*;
use proptest::prelude::*;

/// Parses `input` in pieces cut at `cuts` (sorted positions), merging data like [`Parser::push`].
fn parse_split(input: &[u8], cuts: &[usize]) -> Result<Vec<Event>, TelnetError> {
    let mut p = Parser::new();
    let mut events: Vec<Event> = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&input.len())) {
        for e in p.push(&input[start..end])? {
            match (e, events.last_mut()) {
                (Event::Data(more), Some(Event::Data(d))) => d.extend(more),
                (e, _) => events.push(e),
            }
        }
        start = end;
    }
    Ok(events)
}

fn sample() -> Vec<u8> {
    let mut s = b"ab".to_vec();
    s.extend(command(Verb::Will, START_TLS));
    s.extend(subneg(TERMINAL_TYPE, &[0, b'X', IAC, b'Y']));
    s.extend([b'c', IAC, IAC, b'd', IAC, EOR, IAC, NOP]);
    s.extend(command(Verb::Dont, TN3270E));
    s.extend(start_tls_follows());
    s.extend(b"\x16\x03\x01");
    s
}

fn sample_events() -> Vec<Event> {
    vec![
        Event::Data(b"ab".to_vec()),
        Event::Command { verb: Verb::Will, option: START_TLS },
        Event::Subneg { option: TERMINAL_TYPE, payload: vec![0, b'X', IAC, b'Y'] },
        Event::Data(vec![b'c', IAC, b'd']),
        Event::Other(EOR),
        Event::Other(NOP),
        Event::Command { verb: Verb::Dont, option: TN3270E },
        Event::Subneg { option: START_TLS, payload: vec![FOLLOWS] },
        Event::Data(b"\x16\x03\x01".to_vec()),
    ]
}

#[test]
fn whole_stream() {
    assert_eq!(Parser::new().push(&sample()), Ok(sample_events()));
}

#[test]
fn every_single_split_gives_the_same_events() {
    let s = sample();
    for cut in 0..=s.len() {
        assert_eq!(parse_split(&s, &[cut]), Ok(sample_events()), "cut at {cut}");
    }
}

#[test]
fn byte_at_a_time_gives_the_same_events() {
    let s = sample();
    let cuts: Vec<usize> = (1..s.len()).collect();
    assert_eq!(parse_split(&s, &cuts), Ok(sample_events()));
}

#[test]
fn next_stops_after_each_event() {
    let mut p = Parser::new();
    let s = [IAC, WILL, START_TLS, IAC, SB, START_TLS, FOLLOWS, IAC, SE, 0x16, 0x03];
    assert_eq!(p.next(&s), Ok((Some(Event::Command { verb: Verb::Will, option: START_TLS }), 3)));
    assert_eq!(p.next(&s[3..]), Ok((Some(Event::Subneg { option: START_TLS, payload: vec![FOLLOWS] }), 6)));
    assert!(p.is_idle());
    // A half sequence is kept: nothing completes, all is used.
    assert_eq!(p.next(&[IAC, SB]), Ok((None, 2)));
    assert!(!p.is_idle());
    assert_eq!(p.next(&[START_TLS, FOLLOWS, IAC]), Ok((None, 3)));
    assert_eq!(
        p.next(&[SE, b'x']),
        Ok((Some(Event::Subneg { option: START_TLS, payload: vec![FOLLOWS] }), 1))
    );
    assert_eq!(p.next(&[]), Ok((None, 0)));
}

#[test]
fn stray_commands_are_other() {
    let events = Parser::new().push(&[IAC, SE, IAC, 0xF9, b'z']).expect("parses");
    assert_eq!(events, vec![Event::Other(SE), Event::Other(0xF9), Event::Data(b"z".to_vec())]);
}

#[test]
fn subnegotiation_limit() {
    let mut p = Parser::with_limit(4);
    assert_eq!(p.push(&subneg(TN3270E, &[1, 2, 3, 4])).map(|e| e.len()), Ok(1));
    let err = TelnetError::SubnegTooLong { option: TN3270E, limit: 4 };
    assert_eq!(p.push(&[IAC, SB, TN3270E, 1, 2, 3]), Ok(vec![]));
    assert_eq!(p.push(&[IAC, IAC, 5]), Err(err.clone()));
    // The parser stays failed.
    assert_eq!(p.push(b"data"), Err(err));
    let mut p = Parser::new();
    let long = vec![7u8; MAX_SUBNEG + 1];
    let mut s = vec![IAC, SB, TERMINAL_TYPE];
    s.extend(&long);
    assert!(matches!(p.push(&s), Err(TelnetError::SubnegTooLong { .. })));
}

#[test]
fn bad_subnegotiation() {
    let mut p = Parser::new();
    let err = p.push(&[IAC, SB, START_TLS, FOLLOWS, IAC, WILL]).expect_err("IAC WILL inside SB");
    assert_eq!(err, TelnetError::BadSubneg { option: START_TLS, byte: WILL });
    assert!(err.to_string().contains("only IAC IAC or IAC SE"), "{err}");
}

#[test]
fn builders() {
    assert_eq!(command(Verb::Do, START_TLS), [0xFF, 0xFD, 0x2E]);
    assert_eq!(start_tls_follows(), vec![0xFF, 0xFA, 0x2E, 0x01, 0xFF, 0xF0]);
    assert_eq!(escape(&[1, IAC, 2]), vec![1, IAC, IAC, 2]);
    for v in [Verb::Will, Verb::Wont, Verb::Do, Verb::Dont] {
        assert_eq!(Verb::from_byte(v.byte()), Some(v));
    }
    assert_eq!(Verb::from_byte(SB), None);
}

proptest! {
    #[test]
    fn any_input_any_split_never_panics(input in proptest::collection::vec(any::<u8>(), 0..300),
                                        cuts in proptest::collection::vec(any::<usize>(), 0..6)) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let whole = Parser::with_limit(64).push(&input);
        let mut p = Parser::with_limit(64);
        let mut start = 0;
        let mut split_ok = true;
        for &end in cuts.iter().chain(std::iter::once(&input.len())) {
            if p.push(&input[start..end]).is_err() {
                split_ok = false;
                break;
            }
            start = end;
        }
        prop_assert_eq!(whole.is_ok(), split_ok);
    }

    #[test]
    fn escaped_data_round_trips(data in proptest::collection::vec(any::<u8>(), 1..300)) {
        let events = Parser::new().push(&escape(&data)).expect("escaped data parses");
        prop_assert_eq!(events, vec![Event::Data(data)]);
    }
}
