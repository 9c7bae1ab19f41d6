//! A TN3270E test server: real telnet option negotiation, then one 3270 screen.
//!
//! On connect it sends `IAC DO TN3270E` (RFC 2355). A client that agrees gets `SEND DEVICE-TYPE`,
//! its `DEVICE-TYPE REQUEST` is granted with `DEVICE-TYPE IS <type> CONNECT ATTLS001`, and its
//! `FUNCTIONS REQUEST` is cut down to RESPONSES and SYSREQ (`FUNCTIONS REQUEST` back, or `IS` when it
//! already fits). A client that refuses gets traditional TN3270 (RFC 1576): TERMINAL-TYPE, then EOR
//! and BINARY both ways. Then the server writes one screen (Erase/Write, WCC, SBA, SF, text in
//! EBCDIC CP037, an input field with the cursor), with a TN3270E header in TN3270E mode, ended by
//! `IAC EOR`, and reads until the client leaves. Each connection's [`Session`] records what was
//! negotiated. The telnet parsing is attls's own (`attls::tn3270::telnet`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use attls::tn3270::telnet::{
    self, BINARY, EOR, EOR_OPTION, Event, IAC, TERMINAL_TYPE, TN3270E, Verb, command, subneg,
};

use crate::support::agent::eventually;

/// The first line of the screen.
pub const SCREEN_TEXT: &str = "ATTLS TN3270E TEST SCREEN";

// TN3270E subnegotiation bytes (RFC 2355 §8).
const CONNECT: u8 = 0x01;
const DEVICE_TYPE: u8 = 0x02;
const FUNCTIONS: u8 = 0x03;
const IS: u8 = 0x04;
const REQUEST: u8 = 0x07;
const SEND: u8 = 0x08;
/// The functions granted: RESPONSES and SYSREQ.
const SUPPORTED: [u8; 2] = [0x02, 0x04];
/// TERMINAL-TYPE (RFC 1091) subnegotiation commands.
const TT_IS: u8 = 0x00;
const TT_SEND: u8 = 0x01;
/// The device name granted to every TN3270E client.
pub const DEVICE_NAME: &str = "ATTLS001";

/// How a client's session is running.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Nothing agreed yet.
    #[default]
    Negotiating,
    /// RFC 2355.
    Tn3270e,
    /// RFC 1576 (TERMINAL-TYPE, EOR, BINARY).
    Tn3270,
}

/// What one client negotiated and what happened.
#[derive(Clone, Debug, Default)]
pub struct Session {
    pub mode: Mode,
    /// TN3270E `DEVICE-TYPE REQUEST` (for example `IBM-3278-4-E`).
    pub device_type: Option<String>,
    /// TN3270E functions agreed (RFC 2355 codes).
    pub functions: Vec<u8>,
    /// TERMINAL-TYPE `IS` (traditional mode).
    pub terminal_type: Option<String>,
    pub screen_sent: bool,
    /// Records (`IAC EOR`) the client sent after the screen (an AID, for example).
    pub records_in: usize,
    /// The connection ended (by the client, or by an error).
    pub ended: bool,
    /// A telnet or I/O error, if the connection ended with one.
    pub error: Option<String>,
}

/// The server on 127.0.0.1:0, a thread per connection; stopped on drop.
pub struct Tn3270eServer {
    addr: SocketAddr,
    sessions: Arc<Mutex<Vec<Arc<Mutex<Session>>>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Tn3270eServer {
    pub fn start() -> Tn3270eServer {
        let sock = TcpListener::bind("127.0.0.1:0").expect("bind tn3270e server");
        let addr = sock.local_addr().expect("tn3270e server addr");
        let sessions: Arc<Mutex<Vec<Arc<Mutex<Session>>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (all, sp) = (sessions.clone(), stop.clone());
        let acceptor = std::thread::spawn(move || {
            for conn in sock.incoming() {
                if sp.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let session = Arc::new(Mutex::new(Session::default()));
                lock(&all).push(session.clone());
                std::thread::spawn(move || serve(conn, &session));
            }
        });
        Tn3270eServer { addr, sessions, stop, acceptor: Some(acceptor) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every connection so far, in accept order.
    pub fn sessions(&self) -> Vec<Session> {
        lock(&self.sessions).iter().map(|s| lock(s).clone()).collect()
    }

    /// Waits up to `timeout` for the `n`-th connection (from 0) to get its screen and returns it.
    pub fn wait_screen(&self, n: usize, timeout: Duration) -> Option<Session> {
        let sent = || self.sessions().get(n).is_some_and(|s| s.screen_sent);
        eventually(timeout, sent).then(|| self.sessions().swap_remove(n))
    }
}

impl Drop for Tn3270eServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// Locks `m`, ignoring poisoning (a panicked thread leaves its record readable).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn serve(conn: TcpStream, session: &Mutex<Session>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = conn.set_nodelay(true);
    serve_stream(conn, session);
}

/// One connection, from `IAC DO TN3270E` until the client leaves (or a read times out), over any
/// stream: a TCP connection, or TLS after START_TLS.
pub fn serve_stream<S: Read + Write>(mut conn: S, session: &Mutex<Session>) {
    let mut c = Conn { out: Vec::new(), flags: Flags::default() };
    let mut parser = telnet::Parser::new();
    c.out.extend(command(Verb::Do, TN3270E));
    let mut buf = [0u8; 4096];
    let error = loop {
        if !c.out.is_empty()
            && conn.write_all(&std::mem::take(&mut c.out)).and_then(|()| conn.flush()).is_err()
        {
            break Some("write failed".to_string());
        }
        let n = match conn.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => n,
            Err(e) => break Some(format!("read: {e}")),
        };
        match parser.push(&buf[..n]) {
            Ok(events) => events.into_iter().for_each(|e| c.on_event(e, &mut lock(session))),
            Err(e) => break Some(format!("telnet: {e}")),
        }
    };
    let mut s = lock(session);
    s.ended = true;
    s.error = error;
}

/// Traditional-mode option state: what the client agreed to.
#[derive(Default)]
struct Flags {
    will_eor: bool,
    do_eor: bool,
    will_binary: bool,
    do_binary: bool,
}

struct Conn {
    out: Vec<u8>,
    flags: Flags,
}

impl Conn {
    fn on_event(&mut self, e: Event, s: &mut Session) {
        match e {
            Event::Command { verb, option } => self.on_command(verb, option, s),
            Event::Subneg { option: TN3270E, payload } => self.on_tn3270e(&payload, s),
            Event::Subneg { option: TERMINAL_TYPE, payload } => {
                if let [TT_IS, name @ ..] = payload.as_slice() {
                    s.terminal_type = Some(String::from_utf8_lossy(name).into_owned());
                    for (v, o) in [(Verb::Do, EOR_OPTION), (Verb::Will, EOR_OPTION)] {
                        self.out.extend(command(v, o));
                    }
                    for v in [Verb::Do, Verb::Will] {
                        self.out.extend(command(v, BINARY));
                    }
                }
            }
            Event::Other(EOR) if s.screen_sent => s.records_in += 1,
            _ => {}
        }
    }

    fn on_command(&mut self, verb: Verb, option: u8, s: &mut Session) {
        match (verb, option) {
            (Verb::Will, TN3270E) => self.out.extend(subneg(TN3270E, &[SEND, DEVICE_TYPE])),
            (Verb::Wont, TN3270E) if s.mode == Mode::Negotiating => {
                s.mode = Mode::Tn3270;
                self.out.extend(command(Verb::Do, TERMINAL_TYPE));
            }
            (Verb::Will, TERMINAL_TYPE) => self.out.extend(subneg(TERMINAL_TYPE, &[TT_SEND])),
            (Verb::Will, EOR_OPTION) => self.flags.will_eor = true,
            (Verb::Do, EOR_OPTION) => self.flags.do_eor = true,
            (Verb::Will, BINARY) => self.flags.will_binary = true,
            (Verb::Do, BINARY) => self.flags.do_binary = true,
            (Verb::Wont | Verb::Dont, _) => {}
            (Verb::Will, o) => self.out.extend(command(Verb::Dont, o)),
            (Verb::Do, o) => self.out.extend(command(Verb::Wont, o)),
        }
        let f = &self.flags;
        if s.mode == Mode::Tn3270 && f.will_eor && f.do_eor && f.will_binary && f.do_binary {
            self.send_screen(s);
        }
    }

    fn on_tn3270e(&mut self, payload: &[u8], s: &mut Session) {
        match payload {
            [DEVICE_TYPE, REQUEST, rest @ ..] => {
                // `<device-type> [CONNECT <resource> | ASSOCIATE <device>]`
                let end = rest.iter().position(|&b| b <= CONNECT).unwrap_or(rest.len());
                let device = &rest[..end];
                s.device_type = Some(String::from_utf8_lossy(device).into_owned());
                let mut is = vec![DEVICE_TYPE, IS];
                is.extend_from_slice(device);
                is.push(CONNECT);
                is.extend_from_slice(DEVICE_NAME.as_bytes());
                self.out.extend(subneg(TN3270E, &is));
            }
            [FUNCTIONS, REQUEST, wanted @ ..] => {
                let agreed: Vec<u8> = wanted.iter().copied().filter(|f| SUPPORTED.contains(f)).collect();
                if agreed.len() == wanted.len() {
                    self.out.extend(subneg(TN3270E, &[&[FUNCTIONS, IS][..], &agreed].concat()));
                    s.functions = agreed;
                    s.mode = Mode::Tn3270e;
                    self.send_screen(s);
                } else {
                    self.out.extend(subneg(TN3270E, &[&[FUNCTIONS, REQUEST][..], &agreed].concat()));
                }
            }
            [FUNCTIONS, IS, agreed @ ..] => {
                s.functions = agreed.to_vec();
                s.mode = Mode::Tn3270e;
                self.send_screen(s);
            }
            _ => {}
        }
    }

    fn send_screen(&mut self, s: &mut Session) {
        if s.screen_sent {
            return;
        }
        let mode = if s.mode == Mode::Tn3270e { "TN3270E" } else { "TN3270" };
        let mut record = Vec::new();
        if s.mode == Mode::Tn3270e {
            // Header: 3270-DATA, request flag, NO-RESPONSE, sequence number 0.
            record.extend([0x00, 0x00, 0x00, 0x00, 0x00]);
        }
        record.extend(screen(&format!("NEGOTIATED {mode}")));
        self.out.extend(telnet::escape(&record));
        self.out.extend([IAC, EOR]);
        s.screen_sent = true;
    }
}

/// The 12-bit buffer address and attribute code table (3270 Data Stream Programmer's Reference).
const CODES: [u8; 64] = [
    0x40, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F, //
    0x50, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F, //
    0x60, 0x61, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F, //
    0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0x7A, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F,
];

const ERASE_WRITE: u8 = 0xF5;
const SBA: u8 = 0x11;
const SF: u8 = 0x1D;
const IC: u8 = 0x13;
/// Field attributes before coding: protected, and unprotected (input).
const PROTECTED: u8 = 0x20;
const UNPROTECTED: u8 = 0x00;

/// Set Buffer Address to `row`, `col` (0-based) of an 80-column screen.
fn sba(row: usize, col: usize) -> [u8; 3] {
    let a = row * 80 + col;
    [SBA, CODES[(a >> 6) & 0x3F], CODES[a & 0x3F]]
}

fn sf(attr: u8) -> [u8; 2] {
    [SF, CODES[usize::from(attr & 0x3F)]]
}

/// The screen: [`SCREEN_TEXT`], `line2`, and an input field with the cursor.
pub fn screen(line2: &str) -> Vec<u8> {
    // WCC: keyboard restore + reset MDT.
    let mut d = vec![ERASE_WRITE, CODES[0x03]];
    for (row, text) in [(0, SCREEN_TEXT), (2, line2), (4, "INPUT ===>")] {
        d.extend(sba(row, 1));
        d.extend(sf(PROTECTED));
        d.extend(ebcdic(text));
    }
    d.extend(sf(UNPROTECTED));
    d.push(IC);
    d.extend(sba(4, 40));
    d.extend(sf(PROTECTED));
    d
}

/// ASCII text in EBCDIC code page 037 (other characters become `?`).
pub fn ebcdic(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            ' ' => 0x40,
            '.' => 0x4B,
            '<' => 0x4C,
            '(' => 0x4D,
            '+' => 0x4E,
            '|' => 0x4F,
            '&' => 0x50,
            '!' => 0x5A,
            '$' => 0x5B,
            '*' => 0x5C,
            ')' => 0x5D,
            ';' => 0x5E,
            '-' => 0x60,
            '/' => 0x61,
            ',' => 0x6B,
            '%' => 0x6C,
            '_' => 0x6D,
            '>' => 0x6E,
            ':' => 0x7A,
            '#' => 0x7B,
            '@' => 0x7C,
            '\'' => 0x7D,
            '=' => 0x7E,
            '"' => 0x7F,
            'a'..='i' => 0x81 + (c as u8 - b'a'),
            'j'..='r' => 0x91 + (c as u8 - b'j'),
            's'..='z' => 0xA2 + (c as u8 - b's'),
            'A'..='I' => 0xC1 + (c as u8 - b'A'),
            'J'..='R' => 0xD1 + (c as u8 - b'J'),
            'S'..='Z' => 0xE2 + (c as u8 - b'S'),
            '0'..='9' => 0xF0 + (c as u8 - b'0'),
            _ => 0x6F,
        })
        .collect()
}
