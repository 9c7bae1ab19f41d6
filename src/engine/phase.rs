//! The TLS-capable side of a connection as it goes through the pipeline, as types. The relay takes
//! only a [`Ready`], and only a finished handshake ([`Secured`], which nothing but
//! [`super::handshake::secure`] makes) or an explicit decision to stay clear ([`ClearBy`]) makes
//! one: a failed handshake cannot reach a backend or a relay.

use super::stream::{Prefixed, Side};
use crate::certmap::Lookup;

/// A side whose handshake finished, with what the `CertUserMap` said of its validated client
/// certificate (`None`: no map, or no such certificate).
pub struct Secured(Side, Option<Lookup>);

impl Secured {
    pub(super) fn new(side: Side, lookup: Option<Lookup>) -> Secured {
        Secured(side, lookup)
    }

    pub fn side(&self) -> &Side {
        &self.0
    }

    /// The user the `CertUserMap` maps the validated client certificate to (D37); `None` without
    /// a map, a validated client certificate, or a line for it.
    pub fn cert_user(&self) -> Option<&str> {
        self.1.as_ref().and_then(Lookup::user)
    }

    /// Why there is no CertUserID, for a log line.
    pub fn why_no_cert_user(&self) -> String {
        crate::certmap::why_no_user(self.1.as_ref())
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
