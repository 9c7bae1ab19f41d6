//! Telnet (RFC 854/855) without I/O: the command and option bytes attls needs (START_TLS, and the
//! TN3270 options the test server speaks), builders for outgoing sequences, and an incremental
//! parser that takes reads cut anywhere and yields data, option commands and subnegotiations.
//!
//! The parser never panics and never grows without bound: a subnegotiation longer than its limit is
//! an error, and data is handed back per call.

use std::fmt;

/// Interpret As Command.
pub const IAC: u8 = 0xFF;
pub const DONT: u8 = 0xFE;
pub const DO: u8 = 0xFD;
pub const WONT: u8 = 0xFC;
pub const WILL: u8 = 0xFB;
/// Subnegotiation begin.
pub const SB: u8 = 0xFA;
/// Subnegotiation end.
pub const SE: u8 = 0xF0;
/// End of record (the command `IAC EOR` that ends a 3270 data stream record).
pub const EOR: u8 = 0xEF;
/// No operation.
pub const NOP: u8 = 0xF1;

/// Option 0: binary transmission (RFC 856).
pub const BINARY: u8 = 0x00;
/// Option 24: terminal type (RFC 1091).
pub const TERMINAL_TYPE: u8 = 0x18;
/// Option 25: end of record (RFC 885).
pub const EOR_OPTION: u8 = 0x19;
/// Option 40: TN3270E (RFC 2355).
pub const TN3270E: u8 = 0x28;
/// Option 46: START_TLS (draft-altman-telnet-starttls-02).
pub const START_TLS: u8 = 0x2E;
/// The START_TLS subnegotiation command: `IAC SB START_TLS FOLLOWS IAC SE`.
pub const FOLLOWS: u8 = 0x01;

/// The default limit on a subnegotiation's payload.
pub const MAX_SUBNEG: usize = 4096;

/// The option verbs of RFC 855.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verb {
    Will,
    Wont,
    Do,
    Dont,
}

impl Verb {
    pub fn byte(self) -> u8 {
        match self {
            Verb::Will => WILL,
            Verb::Wont => WONT,
            Verb::Do => DO,
            Verb::Dont => DONT,
        }
    }

    pub fn from_byte(b: u8) -> Option<Verb> {
        match b {
            WILL => Some(Verb::Will),
            WONT => Some(Verb::Wont),
            DO => Some(Verb::Do),
            DONT => Some(Verb::Dont),
            _ => None,
        }
    }

    /// The verb as RFC 854 writes it (`WILL`).
    pub fn word(self) -> &'static str {
        match self {
            Verb::Will => "WILL",
            Verb::Wont => "WONT",
            Verb::Do => "DO",
            Verb::Dont => "DONT",
        }
    }
}

/// One parsed piece of a telnet stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Data bytes, `IAC IAC` already undoubled.
    Data(Vec<u8>),
    /// `IAC WILL|WONT|DO|DONT option`.
    Command { verb: Verb, option: u8 },
    /// `IAC SB option payload IAC SE`, `IAC IAC` in the payload undoubled.
    Subneg { option: u8, payload: Vec<u8> },
    /// `IAC` and any other command byte (`NOP`, `EOR`, `GA`, a stray `SE`, ...).
    Other(u8),
}

/// Why a telnet stream cannot be parsed; the parser stays failed afterwards.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TelnetError {
    /// A subnegotiation payload grew past the limit.
    SubnegTooLong { option: u8, limit: usize },
    /// Inside a subnegotiation, `IAC` was followed by neither `IAC` nor `SE`.
    BadSubneg { option: u8, byte: u8 },
}

impl fmt::Display for TelnetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TelnetError::SubnegTooLong { option, limit } => {
                write!(f, "subnegotiation of option {option} is longer than {limit} bytes")
            }
            TelnetError::BadSubneg { option, byte } => {
                write!(f, "subnegotiation of option {option} holds IAC {byte:#04X} (only IAC IAC or IAC SE)")
            }
        }
    }
}

impl std::error::Error for TelnetError {}

/// Where the parser is between calls.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    Data,
    Iac,
    Verb(Verb),
    SbOption,
    Sb,
    SbIac,
}

/// An incremental telnet parser: feed it reads as they come.
#[derive(Clone, Debug)]
pub struct Parser {
    state: State,
    sb_option: u8,
    sb: Vec<u8>,
    limit: usize,
    failed: Option<TelnetError>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new()
    }
}

impl Parser {
    /// A parser with the [`MAX_SUBNEG`] subnegotiation limit.
    pub fn new() -> Parser {
        Parser::with_limit(MAX_SUBNEG)
    }

    /// A parser whose subnegotiation payloads may hold up to `limit` bytes.
    pub fn with_limit(limit: usize) -> Parser {
        Parser { state: State::Data, sb_option: 0, sb: Vec::new(), limit, failed: None }
    }

    /// True between sequences: no command or subnegotiation is half read.
    pub fn is_idle(&self) -> bool {
        self.state == State::Data && self.failed.is_none()
    }

    /// Parses all of `input`; adjacent data is merged into one [`Event::Data`]. On an error the
    /// events of this call are dropped and the parser stays failed.
    pub fn push(&mut self, mut input: &[u8]) -> Result<Vec<Event>, TelnetError> {
        let mut events: Vec<Event> = Vec::new();
        while !input.is_empty() {
            let (event, used) = self.next(input)?;
            input = &input[used..];
            match (event, events.last_mut()) {
                (Some(Event::Data(more)), Some(Event::Data(data))) => data.extend_from_slice(&more),
                (Some(e), _) => events.push(e),
                (None, _) => {}
            }
        }
        Ok(events)
    }

    /// Parses `input` up to the end of the first event that completes in it and returns that event
    /// with the number of bytes used; `(None, input.len())` when no event completes (the partial
    /// sequence is kept for the next call). Uses at least one byte of a non-empty input, so bytes
    /// after an event (say, a TLS record after START_TLS FOLLOWS) can be left unparsed.
    pub fn next(&mut self, input: &[u8]) -> Result<(Option<Event>, usize), TelnetError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut i = 0;
        while let Some(&b) = input.get(i) {
            match self.state {
                State::Data => {
                    let end = input[i..].iter().position(|&x| x == IAC).map_or(input.len(), |p| i + p);
                    if end > i {
                        return Ok((Some(Event::Data(input[i..end].to_vec())), end));
                    }
                    self.state = State::Iac;
                    i += 1;
                }
                State::Iac => {
                    i += 1;
                    self.state = State::Data;
                    match b {
                        IAC => return Ok((Some(Event::Data(vec![IAC])), i)),
                        SB => self.state = State::SbOption,
                        _ => match Verb::from_byte(b) {
                            Some(v) => self.state = State::Verb(v),
                            None => return Ok((Some(Event::Other(b)), i)),
                        },
                    }
                }
                State::Verb(verb) => {
                    self.state = State::Data;
                    return Ok((Some(Event::Command { verb, option: b }), i + 1));
                }
                State::SbOption => {
                    self.sb_option = b;
                    self.sb.clear();
                    self.state = State::Sb;
                    i += 1;
                }
                State::Sb => {
                    let end = input[i..].iter().position(|&x| x == IAC).map_or(input.len(), |p| i + p);
                    self.sb.extend_from_slice(&input[i..end]);
                    self.check_limit()?;
                    i = end;
                    if i < input.len() {
                        self.state = State::SbIac;
                        i += 1;
                    }
                }
                State::SbIac => {
                    i += 1;
                    match b {
                        IAC => {
                            self.sb.push(IAC);
                            self.check_limit()?;
                            self.state = State::Sb;
                        }
                        SE => {
                            self.state = State::Data;
                            let payload = std::mem::take(&mut self.sb);
                            return Ok((Some(Event::Subneg { option: self.sb_option, payload }), i));
                        }
                        _ => {
                            return Err(self.fail(TelnetError::BadSubneg { option: self.sb_option, byte: b }));
                        }
                    }
                }
            }
        }
        Ok((None, input.len()))
    }

    fn check_limit(&mut self) -> Result<(), TelnetError> {
        if self.sb.len() > self.limit {
            return Err(self.fail(TelnetError::SubnegTooLong { option: self.sb_option, limit: self.limit }));
        }
        Ok(())
    }

    fn fail(&mut self, e: TelnetError) -> TelnetError {
        self.sb = Vec::new();
        self.failed = Some(e.clone());
        e
    }
}

/// `IAC verb option`.
pub fn command(verb: Verb, option: u8) -> [u8; 3] {
    [IAC, verb.byte(), option]
}

/// `IAC SB option payload IAC SE`, doubling `IAC` in the payload.
pub fn subneg(option: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![IAC, SB, option];
    out.extend(escape(payload));
    out.extend_from_slice(&[IAC, SE]);
    out
}

/// Data with every `IAC` doubled.
pub fn escape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for &b in data {
        out.push(b);
        if b == IAC {
            out.push(IAC);
        }
    }
    out
}

/// `IAC SB START_TLS FOLLOWS IAC SE`, sent by each side once it will start TLS.
pub fn start_tls_follows() -> Vec<u8> {
    subneg(START_TLS, &[FOLLOWS])
}

#[cfg(test)]
mod tests;
