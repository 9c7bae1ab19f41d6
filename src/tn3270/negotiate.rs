//! The per-connection TLS decision of the TN3270 helper (docs/policy-reference.md#tn3270-helper,
//! D27), as a state machine without I/O: direct TLS, telnet START_TLS, clear, or close.
//!
//! The connection task feeds it what happens ([`Negotiator::on_accept`], the first bytes within
//! `StartTlsWait`, the wait's end, the client's bytes during negotiation, end of stream, a timeout)
//! and carries out the [`Step`]s it returns, in order. Exactly one final step (`StartTlsNow`, `Clear`
//! or `Close`) is ever returned; after it every input returns nothing.
//!
//! ```text
//! server  IAC DO START_TLS                  at accept (NegTSecure), or when the wait ends without TLS
//! client  IAC WILL START_TLS                -> server IAC SB START_TLS FOLLOWS IAC SE
//! client  IAC SB START_TLS FOLLOWS IAC SE   -> StartTlsNow { bytes after it }
//! ```

use std::mem;

use super::settings::ConnType;
use super::telnet::{self, Event, FOLLOWS, Parser, START_TLS, Verb};
use crate::engine::{starts_handshake_record, too_short_for_record};

/// The most client bytes kept for forwarding while START_TLS is negotiated.
pub const MAX_PENDING: usize = 4096;

/// What the connection task does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes to the client.
    Send(Vec<u8>),
    /// Begin the TLS server handshake; `leftover` was already read and belongs to TLS (a direct
    /// ClientHello, or what followed the client's FOLLOWS in the same read).
    StartTlsNow { leftover: Vec<u8> },
    /// Go on in clear: open the backend, write `forward` (earlier client bytes, in order), relay.
    Clear { forward: Vec<u8> },
    /// Close the connection; `why` is a sentence for the log.
    Close { why: String },
}

/// How a connection that was not closed went on, for the log and netstat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum How {
    /// The client began with a TLS ClientHello.
    Direct,
    /// TLS after telnet START_TLS.
    Negotiated,
    /// Clear, and why.
    Clear(String),
}

impl How {
    /// `Direct`, `Negotiated` or `Clear`.
    pub fn word(&self) -> &'static str {
        match self {
            How::Direct => "Direct",
            How::Negotiated => "Negotiated",
            How::Clear(_) => "Clear",
        }
    }
}

/// Where the negotiation stands; tells the connection task which input comes next.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    /// [`Negotiator::on_accept`] not called yet.
    New,
    /// Secure and Any: waiting up to `StartTlsWait` for a direct ClientHello.
    WaitFirstBytes,
    /// `IAC DO START_TLS` sent; waiting for the client's answer.
    Offered,
    /// The client said WILL and our FOLLOWS is sent; waiting for the client's FOLLOWS.
    AwaitFollows,
    /// A final step was returned.
    Decided,
}

/// What the first bytes of a connection say.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum FirstBytes {
    Tls,
    NotTls,
    Undecided,
}

/// A TLS handshake record (`engine::starts_handshake_record`), or not (telnet starts `FF`).
fn classify(b: &[u8]) -> FirstBytes {
    if too_short_for_record(b) {
        FirstBytes::Undecided
    } else if starts_handshake_record(b) {
        FirstBytes::Tls
    } else {
        FirstBytes::NotTls
    }
}

/// One connection's START_TLS decision.
#[derive(Clone, Debug)]
pub struct Negotiator {
    conn_type: ConnType,
    tls_available: bool,
    phase: Phase,
    /// Bytes read while waiting for the first bytes.
    first: Vec<u8>,
    /// The first three bytes the client ever sent.
    stream_start: Vec<u8>,
    parser: Parser,
    /// Raw bytes of the telnet sequence being parsed.
    partial: Vec<u8>,
    /// Raw client bytes other than START_TLS answers, forwarded if Any falls back to clear.
    pending: Vec<u8>,
    refused_do: bool,
    how: Option<How>,
}

impl Negotiator {
    /// A connection under `conn_type`; `tls_available` = a TLS-enabled rule applies to it.
    pub fn new(conn_type: ConnType, tls_available: bool) -> Negotiator {
        Negotiator {
            conn_type,
            tls_available,
            phase: Phase::New,
            first: Vec::new(),
            stream_start: Vec::new(),
            parser: Parser::new(),
            partial: Vec::new(),
            pending: Vec::new(),
            refused_do: false,
            how: None,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// How the connection went on, once a `StartTlsNow` or `Clear` step was returned.
    pub fn how(&self) -> Option<&How> {
        self.how.as_ref()
    }

    /// The connection was accepted. NegTSecure offers START_TLS now, Basic goes clear, None closes,
    /// and so does a connection without a TLS rule unless Any lets it go on in clear; Secure and Any
    /// then wait for the first bytes (calling this again returns nothing).
    pub fn on_accept(&mut self) -> Vec<Step> {
        let mut out = Vec::new();
        if self.phase != Phase::New {
            return out;
        }
        let ct = self.conn_type;
        match ct {
            ConnType::None => self.close(&mut out, "ConnType None rejects every connection".into()),
            ConnType::Basic => self.clear(&mut out, "ConnType Basic allows clear only".into(), Vec::new()),
            _ if !self.tls_available => {
                let no_rule = "no TLS rule applies (no TTLSRule, or TTLSEnabled Off)";
                if ct == ConnType::Any {
                    self.clear(&mut out, format!("{no_rule}; ConnType Any goes on in clear"), Vec::new());
                } else {
                    self.close(&mut out, format!("{no_rule} and ConnType {ct} requires TLS"));
                }
            }
            ConnType::NegTSecure => self.offer(&mut out),
            ConnType::Secure | ConnType::Any => self.phase = Phase::WaitFirstBytes,
        }
        out
    }

    /// Bytes that arrived within `StartTlsWait`: `16 03 0x` starts TLS at once, any other first byte
    /// offers START_TLS at once; after that this is [`Negotiator::on_client_bytes`].
    pub fn on_first_bytes(&mut self, bytes: &[u8]) -> Vec<Step> {
        let mut out = self.on_accept();
        if bytes.is_empty() {
            return out;
        }
        let room = 3usize.saturating_sub(self.stream_start.len());
        self.stream_start.extend(bytes.iter().take(room));
        match self.phase {
            Phase::WaitFirstBytes => {
                self.first.extend_from_slice(bytes);
                match classify(&self.first) {
                    FirstBytes::Tls => {
                        let leftover = mem::take(&mut self.first);
                        self.decide(&mut out, Step::StartTlsNow { leftover }, Some(How::Direct));
                    }
                    FirstBytes::NotTls => {
                        self.offer(&mut out);
                        let first = mem::take(&mut self.first);
                        self.feed(&mut out, &first);
                    }
                    FirstBytes::Undecided => {}
                }
            }
            Phase::Offered | Phase::AwaitFollows => self.feed(&mut out, bytes),
            Phase::New | Phase::Decided => {}
        }
        out
    }

    /// `StartTlsWait` passed without a direct ClientHello: offer START_TLS (bytes read so far are
    /// parsed as the client's telnet bytes).
    pub fn on_wait_expired(&mut self) -> Vec<Step> {
        let mut out = self.on_accept();
        if self.phase == Phase::WaitFirstBytes {
            self.offer(&mut out);
            let first = mem::take(&mut self.first);
            self.feed(&mut out, &first);
        }
        out
    }

    /// Client bytes while START_TLS is negotiated (the same input as [`Negotiator::on_first_bytes`]).
    pub fn on_client_bytes(&mut self, bytes: &[u8]) -> Vec<Step> {
        self.on_first_bytes(bytes)
    }

    /// The client closed its side before a decision.
    pub fn on_client_eof(&mut self) -> Vec<Step> {
        let mut out = self.on_accept();
        if self.phase != Phase::Decided {
            self.close(&mut out, "client closed the connection before START_TLS negotiation ended".into());
        }
        out
    }

    /// The negotiation took too long (the connection task's handshake deadline). Any goes on in
    /// clear if the client never answered the offer; otherwise the connection closes.
    pub fn on_negotiation_timeout(&mut self) -> Vec<Step> {
        let mut out = self.on_accept();
        let ct = self.conn_type;
        match self.phase {
            Phase::Decided => {}
            Phase::Offered | Phase::WaitFirstBytes if ct == ConnType::Any => {
                let forward = self.forward(&[]);
                let why = "client did not answer START_TLS in time; ConnType Any goes on in clear";
                self.clear(&mut out, why.into(), forward);
            }
            Phase::AwaitFollows => {
                self.close(&mut out, "client said WILL START_TLS but sent no FOLLOWS in time".into())
            }
            _ => self.close(
                &mut out,
                format!("client did not answer START_TLS in time and ConnType {ct} requires TLS"),
            ),
        }
        out
    }

    fn offer(&mut self, out: &mut Vec<Step>) {
        out.push(Step::Send(telnet::command(Verb::Do, START_TLS).to_vec()));
        self.phase = Phase::Offered;
    }

    /// Parses client telnet bytes until a decision; bytes after the decision are handed on.
    fn feed(&mut self, out: &mut Vec<Step>, mut input: &[u8]) {
        if classify(&self.stream_start) == FirstBytes::Tls {
            let why = match self.conn_type {
                ConnType::NegTSecure => {
                    "client began a TLS handshake without START_TLS, and ConnType NegTSecure negotiates only"
                }
                _ => "client began a TLS handshake after StartTlsWait ended and START_TLS was offered",
            };
            return self.close(out, why.into());
        }
        while !input.is_empty() && matches!(self.phase, Phase::Offered | Phase::AwaitFollows) {
            let (event, used) = match self.parser.next(input) {
                Ok(x) => x,
                Err(e) => return self.close(out, format!("client sent a malformed telnet sequence: {e}")),
            };
            self.partial.extend_from_slice(&input[..used]);
            input = &input[used..];
            let Some(event) = event else { continue };
            let raw = mem::take(&mut self.partial);
            match event {
                Event::Command { verb, option: START_TLS } => self.on_reply(out, verb, input),
                Event::Subneg { option: START_TLS, payload } => self.on_subneg(out, &payload, input),
                _ => {
                    self.pending.extend_from_slice(&raw);
                    if self.pending.len() > MAX_PENDING {
                        let why = format!(
                            "client sent more than {MAX_PENDING} bytes before START_TLS negotiation ended"
                        );
                        self.close(out, why);
                    }
                }
            }
        }
    }

    fn on_reply(&mut self, out: &mut Vec<Step>, verb: Verb, rest: &[u8]) {
        match verb {
            Verb::Will if self.phase == Phase::Offered => {
                out.push(Step::Send(telnet::start_tls_follows()));
                self.phase = Phase::AwaitFollows;
            }
            Verb::Will => {}
            Verb::Wont | Verb::Dont => self.refused(out, verb.word(), rest),
            // The client asks us to start TLS as its client: we never do (answered once).
            Verb::Do => {
                if !mem::replace(&mut self.refused_do, true) {
                    out.push(Step::Send(telnet::command(Verb::Wont, START_TLS).to_vec()));
                }
            }
        }
    }

    fn on_subneg(&mut self, out: &mut Vec<Step>, payload: &[u8], rest: &[u8]) {
        match (payload, self.phase) {
            ([FOLLOWS], Phase::AwaitFollows) => {
                let step = Step::StartTlsNow { leftover: rest.to_vec() };
                self.decide(out, step, Some(How::Negotiated));
            }
            ([FOLLOWS], _) => self.close(out, "client sent START_TLS FOLLOWS before WILL START_TLS".into()),
            _ => self.refused(out, "an unknown START_TLS subnegotiation", rest),
        }
    }

    /// The client will not do START_TLS: Any goes on in clear, the others close.
    fn refused(&mut self, out: &mut Vec<Step>, what: &str, rest: &[u8]) {
        let ct = self.conn_type;
        if ct == ConnType::Any {
            let forward = self.forward(rest);
            self.clear(
                out,
                format!("client refused START_TLS ({what}); ConnType Any goes on in clear"),
                forward,
            );
        } else {
            self.close(out, format!("client refused START_TLS ({what}) and ConnType {ct} requires TLS"));
        }
    }

    /// Everything the client sent but the START_TLS answers, in order.
    fn forward(&mut self, rest: &[u8]) -> Vec<u8> {
        let mut forward = mem::take(&mut self.pending);
        forward.append(&mut self.first);
        forward.append(&mut self.partial);
        forward.extend_from_slice(rest);
        forward
    }

    fn clear(&mut self, out: &mut Vec<Step>, why: String, forward: Vec<u8>) {
        self.decide(out, Step::Clear { forward }, Some(How::Clear(why)));
    }

    fn close(&mut self, out: &mut Vec<Step>, why: String) {
        self.decide(out, Step::Close { why }, None);
    }

    fn decide(&mut self, out: &mut Vec<Step>, step: Step, how: Option<How>) {
        self.phase = Phase::Decided;
        self.how = how;
        self.first = Vec::new();
        self.pending = Vec::new();
        self.partial = Vec::new();
        out.push(step);
    }
}

#[cfg(test)]
mod tests;
