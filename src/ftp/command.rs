//! FTP command lines from the client, without I/O (RFC 959 §4.1, §5.3): the line limit, telnet
//! sequences, the verb and its argument, and the bytes to forward to the backend.
//!
//! Telnet: `IAC IAC` is a data byte 0xFF; `IAC WILL|WONT|DO|DONT opt` and every other `IAC cmd`
//! (`IP`, `DM`, …) are removed, so `ABOR` sent after a telnet Synch parses as `ABOR`. An `IAC`
//! followed by a byte that is no telnet command (as when `DM` travelled as TCP urgent data and the
//! socket dropped it) loses the `IAC` only.

use std::fmt;

/// The longest accepted line, terminator included. A longer one is refused with
/// `500 Command line too long` and never forwarded.
pub const MAX_LINE: usize = 4096;

/// The longest verb (RFC 959 verbs have 3 or 4 letters; extensions up to 8).
pub const MAX_VERB: usize = 8;

const IAC: u8 = 255;
const WILL: u8 = 251;
const DONT: u8 = 254;
/// The lowest telnet command byte (`SE`).
const FIRST_COMMAND: u8 = 240;

/// One client command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The verb in ASCII uppercase.
    pub verb: String,
    /// Everything after the first space, as sent (bytes that are not UTF-8 replaced by U+FFFD).
    pub arg: String,
    /// The line's bytes after telnet decoding, without the terminator (added: the exact bytes, for
    /// forwarding file names that are not UTF-8).
    pub raw: Vec<u8>,
}

impl Command {
    /// The line to send to the backend: [`Command::raw`] telnet-encoded (`0xFF` doubled), CR LF.
    pub fn wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.raw.len() + 2);
        for &b in &self.raw {
            if b == IAC {
                out.push(IAC);
            }
            out.push(b);
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

/// Why a client line is not a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// The line (terminator included) is longer than [`MAX_LINE`].
    TooLong,
    /// The line is empty.
    Empty,
    /// The line does not start with 1 to 8 letters followed by a space or the end.
    BadVerb,
    /// A CR or LF inside the line (it would smuggle a second command to the backend).
    ControlChar,
}

impl CommandError {
    /// The reply code: 500 for an overlong line, 501 for the other syntax errors.
    pub fn code(self) -> u16 {
        match self {
            Self::TooLong => 500,
            Self::Empty | Self::BadVerb | Self::ControlChar => 501,
        }
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLong => "Command line too long",
            Self::Empty => "Syntax error: empty command line",
            Self::BadVerb => "Syntax error: a command starts with 1 to 8 letters",
            Self::ControlChar => "Syntax error: CR or LF inside a command line",
        })
    }
}

impl std::error::Error for CommandError {}

/// Parses one client line (its `\r\n` or `\n` terminator optional).
pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // Measured as forwarded (`wire()`: CR LF, never longer than the line read), so a line with a
    // bare LF at the limit is not forwarded one byte over it.
    if line.len() + 2 > MAX_LINE {
        return Err(CommandError::TooLong);
    }
    let raw = telnet_decode(line);
    if raw.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(CommandError::ControlChar);
    }
    if raw.is_empty() {
        return Err(CommandError::Empty);
    }
    let verb_len = raw.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    if verb_len == 0 || verb_len > MAX_VERB {
        return Err(CommandError::BadVerb);
    }
    let (verb, rest) = raw.split_at(verb_len);
    let arg = match rest.split_first() {
        None => String::new(),
        Some((b' ', arg)) => String::from_utf8_lossy(arg).into_owned(),
        Some(_) => return Err(CommandError::BadVerb),
    };
    let verb = String::from_utf8_lossy(verb).to_ascii_uppercase();
    Ok(Command { verb, arg, raw })
}

/// Removes telnet sequences (see the module doc).
fn telnet_decode(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut bytes = line.iter().copied();
    while let Some(b) = bytes.next() {
        if b != IAC {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(IAC) => out.push(IAC),
            Some(WILL..=DONT) => {
                bytes.next();
            }
            Some(c) if c >= FIRST_COMMAND => {}
            Some(c) => out.push(c),
            None => {}
        }
    }
    out
}

/// The commands that open a data connection: RETR STOR STOU APPE LIST NLST MLSD (any case).
pub fn is_transfer(verb: &str) -> bool {
    ["RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD"].iter().any(|v| v.eq_ignore_ascii_case(verb))
}

/// Transfer commands whose data flows from the client to the server.
pub fn is_upload(verb: &str) -> bool {
    ["STOR", "STOU", "APPE"].iter().any(|v| v.eq_ignore_ascii_case(verb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(line: &[u8]) -> Command {
        parse(line).expect("a command")
    }

    #[test]
    fn verb_and_argument() {
        let c = ok(b"retr  my file.txt \r\n");
        assert_eq!((c.verb.as_str(), c.arg.as_str()), ("RETR", " my file.txt "));
        let c = ok(b"PASV\n");
        assert_eq!((c.verb.as_str(), c.arg.as_str()), ("PASV", ""));
        assert_eq!(ok(b"NOOP").verb, "NOOP");
        assert_eq!(ok(b"PASV \r\n").arg, "");
        assert_eq!(ok(b"AUTH TLS\r\n").wire(), b"AUTH TLS\r\n");
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(parse(b"\r\n"), Err(CommandError::Empty));
        assert_eq!(parse(b" USER x\r\n"), Err(CommandError::BadVerb));
        assert_eq!(parse(b"ABCDEFGHI\r\n"), Err(CommandError::BadVerb));
        assert_eq!(parse(b"RETR2\r\n"), Err(CommandError::BadVerb));
        assert_eq!(parse(b"RETR a\rDELE b\r\n"), Err(CommandError::ControlChar));
        assert_eq!(parse(b"RETR a\nDELE b\r\n"), Err(CommandError::ControlChar));
        assert_eq!(CommandError::BadVerb.code(), 501);
    }

    #[test]
    fn line_limit() {
        let mut line = b"STOR ".to_vec();
        line.resize(MAX_LINE - 2, b'x');
        line.extend_from_slice(b"\r\n");
        assert!(parse(&line).is_ok());
        line.insert(6, b'y');
        assert_eq!(parse(&line), Err(CommandError::TooLong));
        // A bare LF at the limit: forwarded with CR LF it would be one byte over.
        line.truncate(MAX_LINE - 1);
        line.push(b'\n');
        assert_eq!(line.len(), MAX_LINE);
        assert_eq!(parse(&line), Err(CommandError::TooLong));
        assert_eq!(CommandError::TooLong.code(), 500);
        assert_eq!(CommandError::TooLong.to_string(), "Command line too long");
    }

    #[test]
    fn telnet_sequences() {
        assert_eq!(ok(b"\xff\xf4\xff\xf2ABOR\r\n").verb, "ABOR");
        // DM sent as urgent data and dropped by the socket: IAC IP IAC, then the command.
        assert_eq!(ok(b"\xff\xf4\xffABOR\r\n").verb, "ABOR");
        assert_eq!(ok(b"\xff\xfb\x01\xff\xfd\x03NOOP\r\n").verb, "NOOP");
        let c = ok(b"STOR a\xff\xffb\r\n");
        assert_eq!(c.raw, b"STOR a\xffb");
        assert_eq!(c.arg, "a\u{fffd}b");
        assert_eq!(c.wire(), b"STOR a\xff\xffb\r\n");
        assert_eq!(ok(b"NOOP\xff").raw, b"NOOP");
    }

    #[test]
    fn latin1_file_names_survive() {
        let c = ok(b"RETR caf\xe9\r\n");
        assert_eq!(c.arg, "caf\u{fffd}");
        assert_eq!(c.wire(), b"RETR caf\xe9\r\n");
    }

    #[test]
    fn transfer_verbs() {
        for v in ["RETR", "stor", "STOU", "APPE", "LIST", "NLST", "MLSD"] {
            assert!(is_transfer(v), "{v}");
        }
        assert!(!is_transfer("MLST") && !is_transfer("CWD"));
        assert!(is_upload("stor") && is_upload("STOU") && is_upload("APPE"));
        assert!(!is_upload("RETR") && !is_upload("LIST") && !is_upload("NLST") && !is_upload("MLSD"));
    }

    proptest! {
        #[test]
        fn never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(c) = parse(&line) {
                prop_assert!(!c.verb.is_empty() && c.verb.len() <= MAX_VERB);
                prop_assert!(!c.wire().strip_suffix(b"\r\n").unwrap_or_default().contains(&b'\n'));
            }
        }
    }
}
