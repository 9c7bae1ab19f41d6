//! The FTP listener's settings, attls's version of z/OS FTP.DATA
//! (docs/policy-reference.md#ftp-settings, docs/policy-reference.md#ftp-listener-keywords):
//! `SecureFtp`, `SecureLogin`, `SecureDataConn`, `SessionReuse`, `Ccc`, `PassivePorts` and
//! `PassiveAddress`.
//!
//! Each enumerated setting parses its keyword ignoring ASCII case and prints it in the spelling the
//! configuration reference uses; `WORDS` lists those spellings for error hints.

use std::fmt;
use std::net::IpAddr;

/// Defines a keyword enum: `parse`, `word`, `WORDS` and `Display`, one spelling per variant.
macro_rules! keyword_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $word:literal, )+ }
    ) => {
        $(#[$meta])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// The keyword spellings, in declaration order (for error hints).
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            /// Parses a keyword, ignoring ASCII case; `None` for any other word.
            pub fn parse(word: &str) -> Option<Self> {
                $( if word.eq_ignore_ascii_case($word) { return Some(Self::$variant); } )+
                None
            }

            /// The keyword as the configuration reference spells it.
            pub fn word(self) -> &'static str {
                match self {
                    $( Self::$variant => $word, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.word())
            }
        }
    };
}

keyword_enum! {
    /// z/OS `SECURE_FTP`: whether a client must protect the control connection before logging in.
    SecureFtp {
        /// AUTH TLS is the client's choice.
        #[default]
        Allowed = "Allowed",
        /// `USER` before AUTH TLS is refused with 530.
        Required = "Required",
    }
}

keyword_enum! {
    /// z/OS `SECURE_LOGIN`: whether a TLS client must present a certificate before logging in.
    SecureLogin {
        /// No client certificate needed.
        #[default]
        NoClientAuth = "NoClientAuth",
        /// A validated client certificate is needed for `USER` on a TLS connection (531 otherwise).
        Required = "Required",
        /// As `Required`, and with a `CertUserMap` USER must name the user the certificate maps
        /// to (530 otherwise, D37); without a map, as `Required` (D28).
        VerifyUser = "VerifyUser",
    }
}

keyword_enum! {
    /// z/OS `SECURE_DATACONN`: the protection data connections must or may have.
    SecureDataConn {
        /// Data is never protected: `PROT P` is refused with 536.
        Never = "Never",
        /// The client chooses with `PROT C` or `PROT P`.
        #[default]
        Clear = "Clear",
        /// As `Private` (attls has no integrity-only protection).
        Safe = "Safe",
        /// Data must be protected: `PROT C` is refused with 536, transfers under PROT C with 521.
        Private = "Private",
    }
}

keyword_enum! {
    /// z/OS `SECURE_SESSION_REUSE` (D26): whether a data connection's TLS must resume the control
    /// connection's session (or an earlier data connection's).
    SessionReuse {
        /// A data connection that does not resume a session of this control connection is refused.
        #[default]
        Required = "Required",
        /// Resumption is welcome, not demanded.
        Allowed = "Allowed",
        /// No check.
        None = "None",
    }
}

keyword_enum! {
    /// Whether `CCC` (clear the control connection, RFC 4217 §6) is accepted.
    Ccc {
        /// `CCC` on a protected control connection is accepted.
        Allowed = "Allowed",
        /// `CCC` is refused with 534.
        #[default]
        Refused = "Refused",
    }
}

impl SecureDataConn {
    /// Data connections must be protected (`Safe` or `Private`).
    pub fn requires_protection(self) -> bool {
        matches!(self, Self::Safe | Self::Private)
    }

    /// Data connections may be protected (anything but `Never`).
    pub fn allows_protection(self) -> bool {
        self != Self::Never
    }
}

impl SecureLogin {
    /// A client certificate is needed to log in on a TLS connection.
    pub fn requires_certificate(self) -> bool {
        self != Self::NoClientAuth
    }
}

/// One FTP listener's settings.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FtpSettings {
    /// `SecureFtp`.
    pub secure_ftp: SecureFtp,
    /// `SecureLogin`.
    pub secure_login: SecureLogin,
    /// `SecureDataConn`.
    pub secure_data: SecureDataConn,
    /// `SessionReuse` (D26).
    pub session_reuse: SessionReuse,
    /// `Ccc`.
    pub ccc: Ccc,
    /// `PassivePorts LOW-HIGH`: the passive data port pool; `None` = ephemeral ports.
    pub passive_ports: Option<(u16, u16)>,
    /// `PassiveAddress`: the address written into `227`; `None` = the control connection's local IP.
    pub passive_address: Option<IpAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_reference() {
        let s = FtpSettings::default();
        assert_eq!(s.secure_ftp, SecureFtp::Allowed);
        assert_eq!(s.secure_login, SecureLogin::NoClientAuth);
        assert_eq!(s.secure_data, SecureDataConn::Clear);
        assert_eq!(s.session_reuse, SessionReuse::Required);
        assert_eq!(s.ccc, Ccc::Refused);
        assert_eq!((s.passive_ports, s.passive_address), (None, None));
    }

    #[test]
    fn words_round_trip_ignoring_case() {
        for w in SecureDataConn::WORDS {
            let v = SecureDataConn::parse(&w.to_ascii_uppercase()).expect("listed word parses");
            assert_eq!(v.word(), *w);
            assert_eq!(v.to_string(), *w);
        }
        for w in SessionReuse::WORDS {
            assert_eq!(SessionReuse::parse(&w.to_ascii_lowercase()).map(SessionReuse::word), Some(*w));
        }
        assert_eq!(SecureLogin::parse("verifyuser"), Some(SecureLogin::VerifyUser));
        assert_eq!(SecureFtp::parse("REQUIRED"), Some(SecureFtp::Required));
        assert_eq!(Ccc::parse("allowed"), Some(Ccc::Allowed));
        assert_eq!(SecureFtp::WORDS, &["Allowed", "Required"]);
    }

    #[test]
    fn other_spellings_are_refused() {
        assert_eq!(SecureLogin::parse("No_Client_Auth"), None);
        assert_eq!(SecureDataConn::parse("Private "), None);
        assert_eq!(Ccc::parse(""), None);
    }

    #[test]
    fn safe_is_private() {
        assert!(SecureDataConn::Safe.requires_protection());
        assert!(SecureDataConn::Private.requires_protection());
        assert!(!SecureDataConn::Clear.requires_protection());
        assert!(!SecureDataConn::Never.allows_protection());
        assert!(SecureLogin::VerifyUser.requires_certificate());
    }
}
