//! The input format of the `ftp_session` target: a listener's FTP settings and a list of events
//! for one control session, decoded from the fuzzer's bytes with `arbitrary` (one byte per choice;
//! docs/fuzzing.md), and the encoder that writes the seed corpus from readable scripts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use arbitrary::Unstructured;
use attls::ftp::SessionInit;
use attls::ftp::reply::{Reply, ReplyParser};
use attls::ftp::settings::{Ccc, FtpSettings, SecureDataConn, SecureFtp, SecureLogin};

use crate::{byte_string, flag, pick};

/// The client's address: the control connection's peer, which PORT and EPRT must name.
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

/// Command lines as curl, lftp and Python's ftplib send them (CR LF added), with the usual mistakes.
pub const COMMANDS: &[&str] = &[
    "AUTH TLS",
    "AUTH SSL",
    "AUTH TLS-P",
    "AUTH",
    "AUTH KERBEROS",
    "PBSZ 0",
    "PROT P",
    "PROT C",
    "PROT S",
    "PROT X",
    "CCC",
    "USER anonymous",
    "USER ftp",
    "PASS secret",
    "ACCT x",
    "FEAT",
    "SYST",
    "PWD",
    "TYPE I",
    "TYPE A",
    "CWD /pub",
    "SIZE f.txt",
    "MDTM f.txt",
    "OPTS UTF8 ON",
    "PASV",
    "EPSV",
    "EPSV 1",
    "EPSV 2",
    "EPSV ALL",
    "EPSV x",
    "PORT 192,0,2,10,195,80",
    "PORT 10,0,0,1,195,80",
    "PORT 192,0,2,10,0,0",
    "EPRT |1|192.0.2.10|50000|",
    "EPRT |2|2001:db8::10|50001|",
    "EPRT |1|198.51.100.1|50000|",
    "LPSV",
    "REIN",
    "ADAT x",
    "MIC x",
    "RETR f.txt",
    "retr f.txt",
    "STOR up.bin",
    "STOU",
    "APPE log.txt",
    "LIST",
    "NLST",
    "MLSD",
    "MLST f.txt",
    "REST 100",
    "DELE f.txt",
    "RNFR a",
    "RNTO b",
    "NOOP",
    "STAT",
    "QUIT",
    "\u{FF}\u{F4}\u{FF}\u{F2}ABOR",
];

/// Backend replies as vsftpd, ProFTPD and pyftpdlib write them.
pub const REPLIES: &[&str] = &[
    "220 (vsFTPd 3.0.3)\r\n",
    "220-Welcome\r\n220 ready\r\n",
    "120 Service ready in 5 minutes.\r\n",
    "331 Please specify the password.\r\n",
    "230 Login successful.\r\n",
    "530 Please login with USER and PASS.\r\n",
    "200 Switching to Binary mode.\r\n",
    "215 UNIX Type: L8\r\n",
    "257 \"/\" is the current directory\r\n",
    "250 Directory successfully changed.\r\n",
    "227 Entering Passive Mode (127,0,0,1,195,80).\r\n",
    "229 Entering Extended Passive Mode (|||50000|)\r\n",
    "227 Entering Passive Mode.\r\n",
    "150 Here comes the directory listing.\r\n",
    "125 Data connection already open; transfer starting.\r\n",
    "226 Transfer complete.\r\n",
    "425 Can't open data connection.\r\n",
    "426 Connection closed; transfer aborted.\r\n",
    "550 Failed to open file.\r\n",
    "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n UTF8\r\n211 End\r\n",
    "350 Ready for RNTO.\r\n",
    "500 Unknown command.\r\n",
    "221 Goodbye.\r\n",
    "421 Timeout.\r\n",
];

/// One input to the session.
#[derive(Clone, Debug)]
pub enum Event {
    /// A client line, terminator included.
    Command(Vec<u8>),
    /// A client line longer than the limit, discarded unread.
    Overlong,
    /// A complete backend reply.
    Reply(Reply),
    /// The handshake the session asked for finished; with a client certificate if true.
    TlsStarted(bool),
    /// The handshake the session asked for failed.
    TlsFailed,
    /// close_notify after CCC done.
    TlsStopped,
}

/// The session's settings and its inputs.
#[derive(Debug)]
pub struct Script {
    pub init: SessionInit,
    pub events: Vec<Event>,
}

/// Event selectors (the first byte of each event, modulo [`OPS`]).
const OP_COMMAND: u8 = 0;
const OP_RAW_COMMAND: u8 = 7;
const OP_OVERLONG: u8 = 8;
const OP_REPLY: u8 = 9;
const OP_RAW_REPLY: u8 = 13;
const OP_TLS: u8 = 14;
const OP_BURST: u8 = 15;
const OPS: usize = 16;
/// At most this many events per input (a burst counts each of its commands).
const MAX_EVENTS: usize = 600;

fn reply(text: &str) -> Reply {
    let code = text.get(..3).and_then(|c| c.parse().ok()).unwrap_or(500);
    Reply { code, text: text.to_string() }
}

fn command(i: usize) -> Vec<u8> {
    let text = COMMANDS[i % COMMANDS.len()];
    // The ABOR line carries telnet IP and DM: bytes, not characters.
    let mut line: Vec<u8> = text.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect();
    line.extend_from_slice(b"\r\n");
    line
}

impl Script {
    /// Decodes a script; every input gives one (missing bytes read as zero).
    pub fn decode(u: &mut Unstructured<'_>) -> Script {
        let settings = FtpSettings {
            secure_ftp: [SecureFtp::Allowed, SecureFtp::Required][pick(u, 2)],
            secure_login: [SecureLogin::NoClientAuth, SecureLogin::Required, SecureLogin::VerifyUser]
                [pick(u, 3)],
            secure_data: [
                SecureDataConn::Never,
                SecureDataConn::Clear,
                SecureDataConn::Safe,
                SecureDataConn::Private,
            ][pick(u, 4)],
            ccc: [Ccc::Refused, Ccc::Allowed][pick(u, 2)],
            ..FtpSettings::default()
        };
        let tls_available = flag(u);
        let implicit = flag(u);
        let control_v6 = flag(u);
        let backend_v6 = flag(u);
        let client_ip = match (control_v6, pick(u, 2)) {
            (true, _) => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10)),
            (false, 0) => IpAddr::V4(CLIENT_V4),
            (false, _) => IpAddr::V6(CLIENT_V4.to_ipv6_mapped()),
        };
        // A CertUserMap in force (VerifyUser then also needs the mapped user; the session gets
        // none here, so such a login is refused).
        let cert_user_map = flag(u);
        let init = SessionInit {
            settings,
            tls_available,
            implicit,
            client_ip,
            control_v6,
            backend_v6,
            cert_user_map,
        };
        let mut events = Vec::new();
        let mut parser = ReplyParser::new();
        while !u.is_empty() && events.len() < MAX_EVENTS {
            Self::event(u, &mut parser, &mut events);
        }
        Script { init, events }
    }

    fn event(u: &mut Unstructured<'_>, parser: &mut ReplyParser, events: &mut Vec<Event>) {
        match u8::try_from(pick(u, OPS)).unwrap_or(0) {
            OP_COMMAND..OP_RAW_COMMAND => events.push(Event::Command(command(pick(u, COMMANDS.len())))),
            OP_RAW_COMMAND => {
                let mut line = byte_string(u, 80);
                line.truncate(line.iter().position(|&b| b == b'\n').unwrap_or(line.len()));
                line.extend_from_slice(if flag(u) { b"\n" } else { b"\r\n" });
                events.push(Event::Command(line));
            }
            OP_OVERLONG => events.push(Event::Overlong),
            OP_REPLY..OP_RAW_REPLY => events.push(Event::Reply(reply(REPLIES[pick(u, REPLIES.len())]))),
            OP_RAW_REPLY => {
                parser.push(&byte_string(u, 120));
                while let Ok(Some(r)) = parser.next_reply() {
                    events.push(Event::Reply(r));
                }
            }
            OP_TLS => events.push(match pick(u, 3) {
                0 => Event::TlsStarted(flag(u)),
                1 => Event::TlsFailed,
                _ => Event::TlsStopped,
            }),
            _ => {
                let n = pick(u, 80);
                let line = command(pick(u, COMMANDS.len()));
                events.extend(std::iter::repeat_n(Event::Command(line), n));
            }
        }
    }
}

/// One step of a readable seed script (see [`encode`]).
pub enum Seed<'a> {
    /// A line of [`COMMANDS`].
    Cmd(&'a str),
    /// A reply of [`REPLIES`] by its text's start.
    Reply(&'a str),
    /// The handshake finished (client certificate or not).
    TlsOk(bool),
    /// `n` times a line of [`COMMANDS`].
    Burst(u8, &'a str),
}

/// The bytes that [`Script::decode`] reads as these settings (`[secure_ftp, secure_login,
/// secure_data, ccc, tls, implicit, control_v6, backend_v6, client_ip]` as indexes) and steps.
pub fn encode(settings: [u8; 9], steps: &[Seed<'_>]) -> Vec<u8> {
    let index = |table: &[&str], s: &str| {
        let i =
            table.iter().position(|t| t.starts_with(s)).unwrap_or_else(|| panic!("{s:?} not in the table"));
        u8::try_from(i).expect("tables are short")
    };
    let mut out = settings.to_vec();
    for step in steps {
        match step {
            Seed::Cmd(c) => out.extend([OP_COMMAND, index(COMMANDS, c)]),
            Seed::Reply(r) => out.extend([OP_REPLY, index(REPLIES, r)]),
            Seed::TlsOk(cert) => out.extend([OP_TLS, 0, u8::from(*cert)]),
            Seed::Burst(n, c) => out.extend([OP_BURST, *n, index(COMMANDS, c)]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_scripts_decode_back() {
        let bytes = encode(
            [1, 0, 3, 0, 1, 0, 0, 0, 0],
            &[
                Seed::Reply("220 (vsFTPd"),
                Seed::Cmd("AUTH TLS"),
                Seed::TlsOk(false),
                Seed::Cmd("RETR f.txt"),
                Seed::Burst(3, "NOOP"),
            ],
        );
        let script = Script::decode(&mut Unstructured::new(&bytes));
        assert_eq!(script.init.settings.secure_ftp, SecureFtp::Required);
        assert_eq!(script.init.settings.secure_data, SecureDataConn::Private);
        assert!(script.init.tls_available && !script.init.implicit);
        assert_eq!(script.events.len(), 7);
        assert!(matches!(&script.events[1], Event::Command(l) if l == b"AUTH TLS\r\n"));
        assert!(matches!(script.events[2], Event::TlsStarted(false)));
        assert!(matches!(&script.events[6], Event::Command(l) if l == b"NOOP\r\n"));
    }

    #[test]
    fn abor_carries_telnet_bytes() {
        let i = COMMANDS.iter().position(|c| c.ends_with("ABOR")).unwrap();
        assert_eq!(command(i), b"\xff\xf4\xff\xf2ABOR\r\n");
    }
}
