//! Fuzz target `ftp_command`: any bytes as one client line for `attls::ftp::command::parse`, and a
//! PORT or EPRT argument for the data-address parsers.
//!
//! Asserts: no panic; an accepted line is at most `MAX_LINE` bytes, its verb 1 to `MAX_VERB` ASCII
//! letters in upper case, no CR or LF in what is forwarded; `wire()` (what goes to the backend)
//! ends in the one CR LF and parses back to the same command, unless the line was at the limit
//! and the added CR makes the wire one byte longer than `MAX_LINE` (then it is refused as too
//! long, nothing else); a refused line gets the reply code its error promises. A parsed PORT/EPRT
//! address never has port 0, and formats and parses back to itself.

#![no_main]

use attls::ftp::addr::{format_port, parse_eprt, parse_port};
use attls::ftp::command::{CommandError, MAX_LINE, MAX_VERB, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(cmd) => {
            assert!(data.len() <= MAX_LINE);
            assert!((1..=MAX_VERB).contains(&cmd.verb.len()), "verb {:?}", cmd.verb);
            assert!(cmd.verb.bytes().all(|b| b.is_ascii_uppercase()), "verb {:?}", cmd.verb);
            assert!(!cmd.raw.iter().any(|&b| b == b'\r' || b == b'\n'));
            assert!(cmd.raw.len() <= data.len());
            let wire = cmd.wire();
            assert!(wire.ends_with(b"\r\n"));
            assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 1, "one line only");
            if wire.len() <= MAX_LINE {
                assert_eq!(parse(&wire), Ok(cmd.clone()), "wire {wire:?}");
            } else {
                // Only a line at the limit whose terminator was a bare LF or absent grows past it.
                assert!(!data.ends_with(b"\r\n") && data.len() + 2 > MAX_LINE, "{} bytes", data.len());
                assert_eq!(parse(&wire), Err(CommandError::TooLong));
            }
            addresses(&cmd.verb, &cmd.arg);
        }
        Err(e) => {
            let code = e.code();
            assert_eq!(code, if e == CommandError::TooLong { 500 } else { 501 });
            assert_eq!(e == CommandError::TooLong, data.len() > MAX_LINE);
            assert!(!e.to_string().is_empty());
        }
    }
});

/// PORT and EPRT arguments as the session reads them (trimmed).
fn addresses(verb: &str, arg: &str) {
    let arg = arg.trim();
    match verb {
        "PORT" => {
            if let Some(a) = parse_port(arg) {
                assert_ne!(a.port(), 0);
                assert_eq!(parse_port(&format_port(a)), Some(a), "PORT {arg}");
            }
        }
        "EPRT" => {
            if let Some(a) = parse_eprt(arg) {
                assert_ne!(a.port(), 0);
                let proto = if a.is_ipv4() { 1 } else { 2 };
                let again = format!("|{proto}|{}|{}|", a.ip(), a.port());
                assert_eq!(parse_eprt(&again), Some(a), "EPRT {arg}");
            }
        }
        _ => {}
    }
}
