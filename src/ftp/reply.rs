//! FTP replies, without I/O (RFC 959 §4.2): an incremental parser for the backend's single- and
//! multi-line replies, the one-line reply format attls writes itself, and the queue of replies due to
//! the client with what each becomes (the `227`, `229`, FEAT and `522` rewrites of
//! docs/policy-reference.md#ftp-helper).
//!
//! Backend bytes are untrusted: a reply longer than [`MAX_REPLY`] or a first line without a reply
//! code is an error, after which the parser keeps returning that error.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;

use super::{BackendData, Out, feat};

/// The longest accepted reply, all its lines and terminators included.
pub const MAX_REPLY: usize = 64 * 1024;

/// One complete reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The raw reply, all lines, each ending in `\r\n` (bytes that are not UTF-8 replaced by U+FFFD).
    pub text: String,
}

impl Reply {
    /// A one-line reply, for tests and synthesised answers.
    pub fn new(code: u16, text: &str) -> Self {
        Reply { code, text: line(code, text) }
    }

    /// A 1xx reply: more replies to the same command follow.
    pub fn is_preliminary(&self) -> bool {
        (100..200).contains(&self.code)
    }

    /// A 2xx reply.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// The reply's lines without their CR LF.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.lines()
    }
}

/// Formats a one-line reply: `"{code} {text}\r\n"`.
pub fn line(code: u16, text: &str) -> String {
    format!("{code} {text}\r\n")
}

/// Why the backend's bytes are not a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyError {
    /// One reply is longer than [`MAX_REPLY`].
    TooLong,
    /// A reply's first line does not start with a reply code (`1`–`5` and two digits, then a space,
    /// `-` or the end of the line).
    Garbage,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLong => "backend reply longer than 64 KiB",
            Self::Garbage => "backend sent a line that is not an FTP reply",
        })
    }
}

impl std::error::Error for ReplyError {}

/// Collects backend bytes and yields complete replies.
#[derive(Debug, Default)]
pub struct ReplyParser {
    /// Unconsumed bytes; the current reply starts at 0.
    buf: Vec<u8>,
    /// End of the current reply's lines examined so far.
    scanned: usize,
    /// The current reply's code and whether it is multi-line, once its first line is read.
    open: Option<(u16, bool)>,
    /// Set on the first error; returned from then on.
    failed: Option<ReplyError>,
}

impl ReplyParser {
    /// A parser with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the backend.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// The next complete reply, `Ok(None)` until one is complete.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let result = self.scan();
        if let Err(e) = result {
            self.failed = Some(e);
            self.buf = Vec::new();
        }
        result
    }

    fn scan(&mut self) -> Result<Option<Reply>, ReplyError> {
        loop {
            let rest = self.buf.get(self.scanned..).unwrap_or_default();
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > MAX_REPLY {
                    return Err(ReplyError::TooLong);
                }
                return Ok(None);
            };
            let start = self.scanned;
            let end = start + nl + 1;
            if end > MAX_REPLY {
                return Err(ReplyError::TooLong);
            }
            let content = trim_eol(self.buf.get(start..end).unwrap_or_default());
            let done = match self.open {
                None => {
                    let (code, sep) = reply_code(content).ok_or(ReplyError::Garbage)?;
                    self.open = Some((code, sep == Some(b'-')));
                    sep != Some(b'-')
                }
                Some((code, _)) => {
                    matches!(reply_code(content), Some((c, sep)) if c == code && sep != Some(b'-'))
                }
            };
            self.scanned = end;
            if done {
                return Ok(Some(self.take(end)));
            }
        }
    }

    /// Removes the current reply (the first `end` bytes) from the buffer.
    fn take(&mut self, end: usize) -> Reply {
        let code = self.open.map_or(0, |(code, _)| code);
        let rest = self.buf.split_off(end.min(self.buf.len()));
        let raw = std::mem::replace(&mut self.buf, rest);
        self.scanned = 0;
        self.open = None;
        let mut text = String::with_capacity(raw.len() + 8);
        for l in raw.split_inclusive(|&b| b == b'\n') {
            text.push_str(&String::from_utf8_lossy(trim_eol(l)));
            text.push_str("\r\n");
        }
        Reply { code, text }
    }
}

/// What a forwarded command's final reply becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    /// Passed through.
    Plain,
    /// Merged with attls's TLS features ([`feat::merge`]).
    Feat,
    /// The client's PASV or EPSV (`extended`): a positive reply becomes [`Out::OpenPassive`].
    Passive { extended: bool },
    /// The client's PORT or EPRT (`extended`) to `client`: a positive reply becomes
    /// [`Out::ActiveReady`] and `200`.
    Active { client: SocketAddr, extended: bool },
    /// A transfer: its final reply becomes [`Out::TransferReply`].
    Transfer,
    /// A local answer waiting for the replies before it.
    Local(Vec<Out>),
}

/// The replies due to the client, in the order of its commands: each forwarded command's [`Expect`]
/// and the local answers queued behind them (never one at the head).
#[derive(Debug, Default)]
pub(super) struct ReplyQueue(VecDeque<Expect>);

impl ReplyQueue {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a PASV/EPSV for a client's data plan is waiting for its reply.
    pub(super) fn plan_pending(&self) -> bool {
        self.0.iter().any(|e| matches!(e, Expect::Passive { .. } | Expect::Active { .. }))
    }

    pub(super) fn push(&mut self, expect: Expect) {
        self.0.push_back(expect);
    }

    pub(super) fn clear(&mut self) {
        self.0.clear();
    }

    /// What the client gets for a final backend reply: the reply as its command expects it, then the
    /// local answers now due. `tls_features`: FEAT gains attls's TLS features.
    pub(super) fn finish(&mut self, reply: &Reply, tls_features: bool) -> Vec<Out> {
        let mut out = Vec::new();
        let pass = Out::ToClient(reply.text.clone());
        match self.0.pop_front() {
            None | Some(Expect::Plain) => out.push(pass),
            Some(Expect::Local(outs)) => out.extend(outs.into_iter().chain([pass])),
            Some(Expect::Feat) if tls_features => out.push(Out::ToClient(feat::merge(Some(reply)))),
            Some(Expect::Transfer) => {
                out.push(Out::TransferReply { reply: reply.text.clone(), positive: reply.is_positive() })
            }
            Some(Expect::Passive { .. } | Expect::Active { .. }) if !reply.is_positive() => {
                out.push(Out::PlanFailed);
                out.push(pass);
            }
            Some(Expect::Feat) => out.push(pass),
            Some(Expect::Passive { extended }) => match BackendData::from_reply(reply) {
                Some(backend) => out.push(Out::OpenPassive { backend, extended }),
                None => out.extend([Out::PlanFailed, unreadable_passive()]),
            },
            Some(Expect::Active { client, extended }) => match BackendData::from_reply(reply) {
                Some(backend) => {
                    let verb = if extended { "EPRT" } else { "PORT" };
                    out.push(Out::ActiveReady { backend, client });
                    out.push(Out::ToClient(line(200, &format!("{verb} command successful"))));
                }
                None => out.extend([Out::PlanFailed, unreadable_passive()]),
            },
        }
        while let Some(Expect::Local(_)) = self.0.front() {
            if let Some(Expect::Local(outs)) = self.0.pop_front() {
                out.extend(outs);
            }
        }
        out
    }
}

fn unreadable_passive() -> Out {
    Out::ToClient(line(425, "Cannot open data connection: the server's passive reply was unreadable"))
}

/// A line without its `\n` or `\r\n`.
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The reply code that starts a line, and the byte after it (`None` at the end of the line). A code
/// followed by anything but a space or `-` is no code.
fn reply_code(line: &[u8]) -> Option<(u16, Option<u8>)> {
    let (&[a, b, c], rest) = line.split_first_chunk::<3>()?;
    if !(b'1'..=b'5').contains(&a) || !b.is_ascii_digit() || !c.is_ascii_digit() {
        return None;
    }
    let sep = rest.first().copied();
    if !matches!(sep, None | Some(b' ' | b'-')) {
        return None;
    }
    let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    Some((code, sep))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn all(p: &mut ReplyParser) -> Vec<Reply> {
        let mut out = Vec::new();
        while let Some(r) = p.next_reply().expect("valid replies") {
            out.push(r);
        }
        out
    }

    #[test]
    fn single_lines_and_normalised_terminators() {
        let mut p = ReplyParser::new();
        p.push(b"220 ready\n150 Opening\r\n226 Done\r\n331");
        let r = all(&mut p);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], Reply { code: 220, text: "220 ready\r\n".into() });
        assert!(r[1].is_preliminary() && !r[1].is_positive());
        assert!(r[2].is_positive());
        p.push(b" Password\r\n");
        assert_eq!(all(&mut p), vec![Reply::new(331, "Password")]);
    }

    #[test]
    fn multi_line_with_split_pushes() {
        let bytes: &[u8] =
            b"211-Features:\r\n MDTM\r\n211-not the end\n123 other code\r\n SIZE\r\n211 End\r\n200 ok\r\n";
        for split in 0..bytes.len() {
            let mut p = ReplyParser::new();
            let (a, b) = bytes.split_at(split);
            p.push(a);
            let mut got = all(&mut p);
            p.push(b);
            got.extend(all(&mut p));
            assert_eq!(got.len(), 2, "split at {split}");
            assert_eq!(got[0].code, 211);
            let lines: Vec<_> = got[0].lines().collect();
            assert_eq!(
                lines,
                ["211-Features:", " MDTM", "211-not the end", "123 other code", " SIZE", "211 End"]
            );
            assert!(got[0].text.ends_with("211 End\r\n"));
            assert_eq!(got[1], Reply::new(200, "ok"));
        }
    }

    #[test]
    fn bare_code_lines() {
        let mut p = ReplyParser::new();
        p.push(b"200\r\n230-a\r\n230\r\n");
        let r = all(&mut p);
        assert_eq!((r[0].code, r[1].code, r[1].lines().count()), (200, 230, 2));
    }

    #[test]
    fn garbage_is_an_error_and_stays_one() {
        let mut p = ReplyParser::new();
        p.push(b"hello\r\n");
        assert_eq!(p.next_reply(), Err(ReplyError::Garbage));
        p.push(b"200 ok\r\n");
        assert_eq!(p.next_reply(), Err(ReplyError::Garbage));
        for bad in [&b"20 x\r\n"[..], b"2000 x\r\n", b"600 x\r\n", b"099 x\r\n", b"\r\n"] {
            let mut p = ReplyParser::new();
            p.push(bad);
            assert_eq!(p.next_reply(), Err(ReplyError::Garbage), "{bad:?}");
        }
    }

    #[test]
    fn replies_are_bounded() {
        let mut p = ReplyParser::new();
        p.push(b"211-start\r\n");
        let filler = b" feature\r\n".repeat(7000);
        p.push(&filler);
        assert_eq!(p.next_reply(), Err(ReplyError::TooLong));
        let mut p = ReplyParser::new();
        p.push(&vec![b'2'; MAX_REPLY + 1]);
        assert_eq!(p.next_reply(), Err(ReplyError::TooLong));
        assert_eq!(line(200, "ok"), "200 ok\r\n");
    }

    proptest! {
        #[test]
        fn never_panics(chunks in vec(vec(any::<u8>(), 0..64), 0..8)) {
            let mut p = ReplyParser::new();
            for c in &chunks {
                p.push(c);
                while let Ok(Some(r)) = p.next_reply() {
                    prop_assert!((100..600).contains(&r.code));
                    prop_assert!(r.text.ends_with("\r\n"));
                }
            }
        }

        #[test]
        fn valid_replies_round_trip(code in 100u16..600, n in 0usize..5, text in "[a-zA-Z0-9 .]{0,20}") {
            let mut raw = String::new();
            for i in 0..n {
                raw.push_str(&format!("{code}-{text}{i}\r\n"));
            }
            raw.push_str(&line(code, &text));
            let mut p = ReplyParser::new();
            p.push(raw.as_bytes());
            prop_assert_eq!(p.next_reply(), Ok(Some(Reply { code, text: raw })));
        }
    }
}
