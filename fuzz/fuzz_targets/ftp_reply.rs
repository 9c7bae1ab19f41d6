//! Fuzz target `ftp_reply`: any bytes as what a backend FTP server sends, through
//! `attls::ftp::reply::ReplyParser`, and each reply through the passive-address parsers.
//!
//! Asserts: no panic; the replies (and the error, if any) are the same whether the bytes come in
//! one push, one byte per push, or in reads of 1 to 16 bytes; after an error the parser keeps
//! returning it; every reply has a code from 100 to 599, lines that each end in CR LF, starts with
//! its code and ends with a line that closes it (`CODE` then a space or nothing), and holds at most
//! `MAX_REPLY` characters plus the CRs added to bare LFs; a `227`/`229` data address never has port 0 and
//! reads back from attls's own `227`/`229`.

#![no_main]

use attls::ftp::BackendData;
use attls::ftp::addr::{format_227, format_229};
use attls::ftp::reply::{MAX_REPLY, Reply, ReplyError, ReplyParser};
use attls_fuzz::{fnv1a, reads};
use libfuzzer_sys::fuzz_target;

/// The replies a parser yields from `reads`, and the error that stopped it.
fn run<'a>(reads: impl IntoIterator<Item = &'a [u8]>) -> (Vec<Reply>, Option<ReplyError>) {
    let mut parser = ReplyParser::new();
    let mut replies = Vec::new();
    for read in reads {
        parser.push(read);
        loop {
            match parser.next_reply() {
                Ok(Some(r)) => replies.push(r),
                Ok(None) => break,
                Err(e) => {
                    parser.push(b"200 more\r\n");
                    assert_eq!(parser.next_reply(), Err(e), "the error is not sticky");
                    return (replies, Some(e));
                }
            }
        }
    }
    (replies, None)
}

fuzz_target!(|data: &[u8]| {
    let whole = run([data]);
    let bytewise = run(data.chunks(1));
    assert_eq!(whole, bytewise, "one push and one byte per push differ");
    let cut = run(reads(data, fnv1a(data)));
    assert_eq!(whole, cut, "one push and reads of 1 to 16 bytes differ");
    for r in &whole.0 {
        check_reply(r);
    }
});

fn check_reply(r: &Reply) {
    assert!((100..600).contains(&r.code), "code {}", r.code);
    assert!(r.text.ends_with("\r\n"));
    let code = r.code.to_string();
    assert!(r.text.starts_with(&code), "{:?}", r.text);
    let lines: Vec<&str> = r.text.split_inclusive('\n').collect();
    assert!(lines.iter().all(|l| l.ends_with("\r\n")), "{:?}", r.text);
    let last = lines.last().map_or("", |l| l.trim_end_matches("\r\n"));
    let closes =
        last.strip_prefix(code.as_str()).is_some_and(|rest| rest.is_empty() || rest.starts_with(' '));
    assert!(closes, "the last line does not close the reply: {:?}", r.text);
    // Each byte read gives at most one character (CR added to a bare LF: one per line).
    assert!(r.text.chars().count() <= MAX_REPLY + lines.len(), "{} bytes", r.text.len());
    assert_eq!(r.is_positive(), (200..300).contains(&r.code));
    match BackendData::from_reply(r) {
        Some(BackendData::Addr(a)) => {
            assert_eq!(r.code, 227);
            assert_ne!(a.port(), 0);
            let ours = Reply { code: 227, text: format_227(a) };
            assert_eq!(BackendData::from_reply(&ours), Some(BackendData::Addr(a)));
        }
        Some(BackendData::Port(p)) => {
            assert_eq!(r.code, 229);
            assert_ne!(p, 0);
            let ours = Reply { code: 229, text: format_229(p) };
            assert_eq!(BackendData::from_reply(&ours), Some(BackendData::Port(p)));
        }
        None => {}
    }
}
