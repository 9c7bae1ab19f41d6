//! The input format of the `tn3270` target: a listener's `ConnType`, whether a TLS rule applies, and
//! what happens on the connection (client reads, the `StartTlsWait` end, end of stream, the
//! negotiation deadline), decoded from the fuzzer's bytes with `arbitrary` (one byte per choice;
//! docs/fuzzing.md), and the encoder that writes the seed corpus.

use arbitrary::Unstructured;
use attls::tn3270::settings::ConnType;
use attls::tn3270::telnet::{DO, DONT, IAC, NOP, SB, SE, START_TLS, TERMINAL_TYPE, TN3270E, WILL, WONT};

use crate::{byte_string, flag, pick};

/// The start of a TLS 1.2+ ClientHello record (record version 03 01).
pub const HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03, 0x5A, 0x17];

/// What TN3270 clients (s3270, x3270, `openssl s_client -starttls telnet`) send, piece by piece.
pub const PIECES: &[&[u8]] = &[
    &[IAC, WILL, START_TLS],
    &[IAC, SB, START_TLS, 0x01, IAC, SE],
    &[IAC, WILL, START_TLS, IAC, SB, START_TLS, 0x01, IAC, SE],
    &[IAC, WONT, START_TLS],
    &[IAC, DONT, START_TLS],
    &[IAC, DO, START_TLS],
    &[IAC, WILL, TERMINAL_TYPE],
    &[IAC, DO, TERMINAL_TYPE],
    &[IAC, SB, TERMINAL_TYPE, 0x00, b'I', b'B', b'M', b'-', b'3', b'2', b'7', b'8', IAC, SE],
    &[IAC, WILL, TN3270E],
    &[IAC, DO, TN3270E],
    &[IAC, SB, START_TLS, 0x02, IAC, SE],
    &[IAC, SB, START_TLS],
    &[IAC, NOP],
    &[IAC, IAC],
    &[IAC, SE],
    &[IAC],
    HELLO,
    &[0x16, 0x03, 0x00, 0x00, 0x2F, 0x01],
    &[0x16],
    &[0x03, 0x01],
    b"x",
    b"\r\n",
];

/// One thing that happens on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The client's bytes, one read.
    Bytes(Vec<u8>),
    /// `StartTlsWait` passed.
    WaitExpired,
    /// The client closed its side.
    Eof,
    /// The negotiation deadline passed.
    Timeout,
}

/// A connection's settings and events.
#[derive(Clone, Debug)]
pub struct Script {
    pub conn_type: ConnType,
    pub tls_available: bool,
    pub events: Vec<Event>,
}

pub const CONN_TYPES: [ConnType; 5] =
    [ConnType::Secure, ConnType::NegTSecure, ConnType::Any, ConnType::Basic, ConnType::None];

const OP_PIECE: u8 = 0;
const OP_RAW: u8 = 3;
const OP_WAIT: u8 = 4;
const OP_EOF: u8 = 5;
const OP_TIMEOUT: u8 = 6;
const OPS: usize = 7;

impl Script {
    /// Decodes a script; every input gives one.
    pub fn decode(u: &mut Unstructured<'_>) -> Script {
        let conn_type = CONN_TYPES[pick(u, CONN_TYPES.len())];
        let tls_available = flag(u);
        let mut events = Vec::new();
        while !u.is_empty() && events.len() < 400 {
            events.push(match u8::try_from(pick(u, OPS)).unwrap_or(0) {
                OP_PIECE..OP_RAW => Event::Bytes(PIECES[pick(u, PIECES.len())].to_vec()),
                OP_RAW => Event::Bytes(byte_string(u, 64)),
                OP_WAIT => Event::WaitExpired,
                OP_EOF => Event::Eof,
                _ => Event::Timeout,
            });
        }
        Script { conn_type, tls_available, events }
    }

    /// Every byte the client sends, in order.
    pub fn stream(&self) -> Vec<u8> {
        self.events
            .iter()
            .filter_map(|e| if let Event::Bytes(b) = e { Some(b.as_slice()) } else { None })
            .collect::<Vec<_>>()
            .concat()
    }
}

/// A seed step: a piece of [`PIECES`] by index, or a timer event.
pub enum Seed {
    Piece(usize),
    Wait,
    Eof,
    Timeout,
}

/// The bytes that [`Script::decode`] reads as this connection.
pub fn encode(conn_type: ConnType, tls: bool, steps: &[Seed]) -> Vec<u8> {
    let ct = CONN_TYPES.iter().position(|c| *c == conn_type).unwrap_or(0);
    let mut out = vec![u8::try_from(ct).unwrap_or(0), u8::from(tls)];
    for s in steps {
        match s {
            Seed::Piece(i) => out.extend([OP_PIECE, u8::try_from(*i).expect("few pieces")]),
            Seed::Wait => out.push(OP_WAIT),
            Seed::Eof => out.push(OP_EOF),
            Seed::Timeout => out.push(OP_TIMEOUT),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_scripts_decode_back() {
        let bytes = encode(ConnType::Any, true, &[Seed::Piece(2), Seed::Wait, Seed::Piece(17), Seed::Eof]);
        let s = Script::decode(&mut Unstructured::new(&bytes));
        assert_eq!((s.conn_type, s.tls_available), (ConnType::Any, true));
        assert_eq!(
            s.events,
            vec![
                Event::Bytes(PIECES[2].to_vec()),
                Event::WaitExpired,
                Event::Bytes(HELLO.to_vec()),
                Event::Eof
            ]
        );
    }
}
