//! Fuzz target `ftp_command`: any bytes as one client line for `attls::ftp::command::parse`, and a
//! PORT or EPRT argument for the data-address parsers.
//!
//! Asserts: no panic; an accepted line is at most `MAX_LINE` bytes, its verb 1 to `MAX_VERB` ASCII
//! letters in upper case, no CR or LF in what is forwarded; `wire()` (what goes to the backend)
//! ends in the one CR LF, is at most `MAX_LINE` bytes and parses back to the same command (a line
//! is measured as forwarded, with CR LF: the fuzzer found one with a bare LF at the limit that the
//! wire made one byte longer; regression seed `at-limit`); a refused line gets the reply code its error promises. A parsed PORT/EPRT
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
            assert!(wire.len() <= MAX_LINE, "forwarded {} bytes", wire.len());
            assert_eq!(parse(&wire), Ok(cmd.clone()), "wire {wire:?}");
            addresses(&cmd.verb, &cmd.arg);
        }
        Err(e) => {
            let code = e.code();
            assert_eq!(code, if e == CommandError::TooLong { 500 } else { 501 });
            assert_eq!(e == CommandError::TooLong, content(data).len() + 2 > MAX_LINE);
            assert!(!e.to_string().is_empty());
        }
    }
});

/// The line without its terminator (`\r\n`, `\n`, or a lone `\r` before the end).
fn content(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

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
