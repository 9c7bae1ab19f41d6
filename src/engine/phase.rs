//! The TLS-capable side of a connection as it goes through the pipeline, as types. The relay takes
//! only a [`Ready`], and only a finished handshake ([`Secured`], which nothing but
//! [`super::handshake::secure`] makes) or an explicit decision to stay clear ([`ClearBy`]) makes
//! one: a failed handshake cannot reach a backend or a relay.

use super::stream::{Prefixed, Side};

/// A side whose handshake finished.
pub struct Secured(Side);

impl Secured {
    pub(super) fn new(side: Side) -> Secured {
        Secured(side)
    }

    pub fn side(&self) -> &Side {
        &self.0
    }

    /// The side, for a helper that carries on with it (switches, line protocols).
    pub fn into_side(self) -> Side {
        self.0
    }
}

/// Why a connection is relayed in clear: always a decision, never a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClearBy {
    /// No rule matched (z/OS NO_POLICY).
    NoPolicy,
    /// The rule says `TTLSEnabled Off`.
    Disabled,
    /// The rule is application-controlled and the application has not asked for TLS.
    NotAsked,
    /// A helper's negotiation ended in clear as its settings allow (TN3270 `ConnType Any|Basic`,
    /// FTP `PROT C`).
    Negotiated,
}

/// A side that may be relayed: secure, or clear by decision.
pub enum Ready {
    Secured(Secured),
    Clear(Prefixed, ClearBy),
}

impl Ready {
    pub fn into_side(self) -> Side {
        match self {
            Ready::Secured(s) => s.0,
            Ready::Clear(p, _) => Side::Clear(p),
        }
    }

    /// The TCP connection under the side.
    pub fn tcp(&self) -> &tokio::net::TcpStream {
        match self {
            Ready::Secured(s) => s.0.tcp(),
            Ready::Clear(p, _) => p.tcp(),
        }
    }
}

impl From<Secured> for Ready {
    fn from(s: Secured) -> Ready {
        Ready::Secured(s)
    }
}
