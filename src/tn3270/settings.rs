//! The TN3270 listener's settings (docs/policy-reference.md#tn3270-listener-keywords,
//! docs/policy-reference.md#tn3270-helper): `ConnType`, `ClientAuth` and `StartTlsWait`, attls's
//! version of z/OS TELNETPARMS CONNTYPE and CLIENTAUTH.
//!
//! Each enumerated setting parses its keyword ignoring ASCII case and prints it in the spelling the
//! configuration reference uses; `WORDS` lists those spellings for error hints.

use std::fmt;
use std::time::Duration;

/// z/OS `CONNTYPE`: whether a TN3270 connection must, may or must not be protected by TLS.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ConnType {
    /// Wait for a direct ClientHello; none in time: negotiate START_TLS; a refusal closes.
    #[default]
    Secure,
    /// Negotiate START_TLS at accept (z/OS `NEGTSECURE`, older `NEGSECURE`); a refusal closes.
    NegTSecure,
    /// As `Secure`, but a client that refuses START_TLS goes on in clear.
    Any,
    /// Clear only.
    Basic,
    /// Every connection is rejected.
    None,
}

impl ConnType {
    /// The keyword spellings, in declaration order (for error hints).
    pub const WORDS: &'static [&'static str] = &["Secure", "NegTSecure", "Any", "Basic", "None"];

    /// Parses a keyword, ignoring ASCII case (`NegSecure` is the older name of `NegTSecure`);
    /// `None` for any other word.
    pub fn parse(word: &str) -> Option<ConnType> {
        let all = [ConnType::Secure, ConnType::NegTSecure, ConnType::Any, ConnType::Basic, ConnType::None];
        if word.eq_ignore_ascii_case("NegSecure") {
            return Some(ConnType::NegTSecure);
        }
        all.into_iter().find(|c| word.eq_ignore_ascii_case(c.word()))
    }

    /// The keyword as the configuration reference spells it.
    pub fn word(self) -> &'static str {
        match self {
            ConnType::Secure => "Secure",
            ConnType::NegTSecure => "NegTSecure",
            ConnType::Any => "Any",
            ConnType::Basic => "Basic",
            ConnType::None => "None",
        }
    }

    /// Whether a client may go on in clear when it refuses TLS (or no TLS rule applies).
    pub fn allows_clear(self) -> bool {
        matches!(self, ConnType::Any | ConnType::Basic)
    }

    /// Whether attls waits `StartTlsWait` for a direct ClientHello before offering START_TLS.
    pub fn waits_for_direct_tls(self) -> bool {
        matches!(self, ConnType::Secure | ConnType::Any)
    }
}

impl fmt::Display for ConnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// z/OS `CLIENTAUTH`: what a TLS client must prove after the handshake.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate needed.
    #[default]
    None,
    /// A validated client certificate is needed; without one the connection is closed.
    SslCert,
    /// As `SslCert`, and with a `CertUserMap` the certificate must map to a user (D37); without
    /// a map, as `SslCert` (D28).
    SafCert,
}

impl ClientAuth {
    /// The keyword spellings, in declaration order (for error hints).
    pub const WORDS: &'static [&'static str] = &["None", "SslCert", "SafCert"];

    /// Parses a keyword, ignoring ASCII case; `None` for any other word.
    pub fn parse(word: &str) -> Option<ClientAuth> {
        [ClientAuth::None, ClientAuth::SslCert, ClientAuth::SafCert]
            .into_iter()
            .find(|c| word.eq_ignore_ascii_case(c.word()))
    }

    /// The keyword as the configuration reference spells it.
    pub fn word(self) -> &'static str {
        match self {
            ClientAuth::None => "None",
            ClientAuth::SslCert => "SslCert",
            ClientAuth::SafCert => "SafCert",
        }
    }

    /// Whether a validated client certificate is needed (`SslCert`, and `SafCert` as `SslCert`).
    pub fn requires_certificate(self) -> bool {
        self != ClientAuth::None
    }
}

impl fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// The TN3270 keywords of one `Listener` block, resolved.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Tn3270Settings {
    pub conn_type: ConnType,
    pub client_auth: ClientAuth,
    /// `StartTlsWait`: how long Secure and Any wait for a direct ClientHello; `None` (unwritten) =
    /// the rule's effective HandshakeTimeout (D27).
    pub start_tls_wait: Option<Duration>,
}

impl Tn3270Settings {
    /// The direct-TLS wait for a connection whose rule has `handshake_timeout` (D27).
    pub fn direct_tls_wait(&self, handshake_timeout: Duration) -> Duration {
        self.start_tls_wait.unwrap_or(handshake_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conn_type_words_round_trip_ignoring_case() {
        for w in ConnType::WORDS {
            let c = ConnType::parse(w).expect("listed word parses");
            assert_eq!(c.word(), *w);
            assert_eq!(ConnType::parse(&w.to_ascii_uppercase()), Some(c));
            assert_eq!(ConnType::parse(&w.to_ascii_lowercase()), Some(c));
            assert_eq!(c.to_string(), *w);
        }
        assert_eq!(ConnType::parse("NEGSECURE"), Some(ConnType::NegTSecure));
        assert_eq!(ConnType::parse("negsecure"), Some(ConnType::NegTSecure));
        assert_eq!(ConnType::parse("Secur"), None);
        assert_eq!(ConnType::parse(""), None);
        assert_eq!(ConnType::default(), ConnType::Secure);
    }

    #[test]
    fn client_auth_words_round_trip_ignoring_case() {
        for w in ClientAuth::WORDS {
            let c = ClientAuth::parse(w).expect("listed word parses");
            assert_eq!(c.word(), *w);
            assert_eq!(ClientAuth::parse(&w.to_ascii_uppercase()), Some(c));
        }
        assert_eq!(ClientAuth::parse("Required"), None);
        assert_eq!(ClientAuth::default(), ClientAuth::None);
        assert!(ClientAuth::SafCert.requires_certificate());
        assert!(!ClientAuth::None.requires_certificate());
    }

    #[test]
    fn defaults_and_wait() {
        let s = Tn3270Settings::default();
        assert_eq!(
            (s.conn_type, s.client_auth, s.start_tls_wait),
            (ConnType::Secure, ClientAuth::None, None)
        );
        assert_eq!(s.direct_tls_wait(Duration::from_secs(10)), Duration::from_secs(10));
        let s = Tn3270Settings { start_tls_wait: Some(Duration::from_secs(2)), ..s };
        assert_eq!(s.direct_tls_wait(Duration::from_secs(10)), Duration::from_secs(2));
        assert!(ConnType::Any.allows_clear() && ConnType::Basic.allows_clear());
        assert!(!ConnType::Secure.allows_clear() && !ConnType::NegTSecure.allows_clear());
        assert!(ConnType::Secure.waits_for_direct_tls() && !ConnType::NegTSecure.waits_for_direct_tls());
    }
}
