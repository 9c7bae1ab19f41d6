//! Fuzz target `telnet`: any bytes as a client's telnet stream for the incremental parser
//! `attls::tn3270::telnet::Parser`.
//!
//! Asserts: no panic; the events (adjacent data merged) and the error are the same whether the
//! stream comes in one `push`, one byte per `next`, or reads of 1 to 16 bytes; `next` uses at
//! least one byte of a non-empty input and at most all of it; a subnegotiation payload never
//! exceeds the limit; after an error the parser keeps returning it; and events written back with
//! the crate's own builders (`escape`, `command`, `subneg`) parse to the same events.

#![no_main]

use attls::tn3270::telnet::{Event, IAC, MAX_SUBNEG, Parser, TelnetError, command, escape, subneg};
use attls_fuzz::{fnv1a, reads};
use libfuzzer_sys::fuzz_target;

/// Events with adjacent data merged (reads cut data anywhere).
fn merged(events: impl IntoIterator<Item = Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for e in events {
        match (e, out.last_mut()) {
            (Event::Data(more), Some(Event::Data(data))) => data.extend_from_slice(&more),
            (Event::Data(d), _) if d.is_empty() => panic!("an empty data event"),
            (e, _) => out.push(e),
        }
    }
    out
}

/// Every event of `reads` through `next`, and the error that stopped the parser.
fn by_next<'a>(reads: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Event>, Option<TelnetError>) {
    let mut p = Parser::new();
    let mut events = Vec::new();
    for mut read in reads {
        while !read.is_empty() {
            match p.next(read) {
                Ok((event, used)) => {
                    assert!((1..=read.len()).contains(&used), "next used {used} of {}", read.len());
                    events.extend(event);
                    read = &read[used..];
                }
                Err(e) => {
                    assert_eq!(p.next(b"x"), Err(e.clone()), "the error is not sticky");
                    assert!(!p.is_idle());
                    return (merged(events), Some(e));
                }
            }
        }
    }
    (merged(events), None)
}

/// Telnet bytes for `events`, written with the crate's builders.
fn write(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in events {
        match e {
            Event::Data(d) => out.extend(escape(d)),
            Event::Command { verb, option } => out.extend(command(*verb, *option)),
            Event::Subneg { option, payload } => out.extend(subneg(*option, payload)),
            Event::Other(b) => out.extend([IAC, *b]),
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let (events, error) = by_next([data]);
    assert_eq!((events.clone(), error.clone()), by_next(data.chunks(1)), "one read and byte reads differ");
    assert_eq!((events.clone(), error.clone()), by_next(reads(data, fnv1a(data))), "short reads differ");
    let pushed = Parser::new().push(data);
    match &error {
        Some(e) => assert_eq!(pushed.as_ref().err(), Some(e)),
        None => assert_eq!(pushed.map(merged).as_ref(), Ok(&events)),
    }
    for e in &events {
        if let Event::Subneg { payload, .. } = e {
            assert!(payload.len() <= MAX_SUBNEG, "{} byte payload", payload.len());
        }
    }
    let again = by_next([write(&events).as_slice()]);
    assert_eq!(again, (events, None), "written events parse differently");
});
