//! The protocol helpers' keywords inside a `Listener` block
//! (docs/policy-reference.md#main-configuration-pagentconf): FTP's FTP.DATA-like settings and
//! TN3270's ConnType, ClientAuth and StartTlsWait. Each is checked here and lands in the listener's
//! [`FtpSettings`] or [`Tn3270Settings`]; written on a listener of another protocol, it is warned
//! as having no effect. `SecureLogin VerifyUser` and `ClientAuth SafCert` are warned at the end of
//! the file, and only when it has no `CertUserMap` ([`user_check_warnings`]).

use std::net::IpAddr;
use std::time::Duration;

use super::Protocol;
use crate::ftp::settings::{Ccc, FtpSettings, SecureDataConn, SecureFtp, SecureLogin, SessionReuse};
use crate::policy::diag::{Diagnostic, Diagnostics};
use crate::policy::lex::Token;
use crate::policy::source::Span;
use crate::tn3270::settings::{ClientAuth, ConnType, Tn3270Settings};

pub(crate) const FTP: &[&str] =
    &["SecureFtp", "SecureLogin", "SecureDataConn", "SessionReuse", "Ccc", "PassivePorts", "PassiveAddress"];
pub(crate) const TN3270: &[&str] = &["ConnType", "ClientAuth", "StartTlsWait"];

/// What the helper keywords of one listener said.
#[derive(Default)]
pub(super) struct Helpers<'a> {
    pub ftp: FtpSettings,
    pub tn3270: Tn3270Settings,
    /// The first keyword of each kind, to warn when the listener's protocol ignores it.
    ftp_seen: Option<Token<'a>>,
    tn3270_seen: Option<Token<'a>>,
    /// `SecureLogin VerifyUser` and `ClientAuth SafCert` as written: what they mean depends on
    /// whether the configuration has a `CertUserMap`, known only at its end.
    pub user_checks: Vec<UserCheck>,
}

/// A helper setting that maps the client certificate to a user.
#[derive(Clone, Copy, Debug)]
pub(super) enum UserSetting {
    VerifyUser,
    SafCert,
}

/// Where a [`UserSetting`] was written.
#[derive(Clone, Copy, Debug)]
pub(super) struct UserCheck {
    pub span: Span,
    pub setting: UserSetting,
}

/// Without a `CertUserMap`, each VerifyUser and SafCert is enforced as Required / SslCert and
/// warned (D28); with one they are applied as on z/OS (D37): no warning.
pub(super) fn user_check_warnings(checks: &[UserCheck], map: bool, diags: &mut Diagnostics) {
    if map {
        return;
    }
    for c in checks {
        let (message, hint) = match c.setting {
            UserSetting::VerifyUser => (
                "SecureLogin VerifyUser needs a CertUserMap to map the certificate to the user logging in; there is none",
                "enforced as Required: a client certificate that chains to the keyring's CAs (D28); add `CertUserMap PATH` to check the user (D37)",
            ),
            UserSetting::SafCert => (
                "ClientAuth SafCert needs a CertUserMap to map the certificate to a user; there is none",
                "enforced as SslCert: a client certificate that chains to the keyring's CAs (D28); add `CertUserMap PATH` to require a user (D37)",
            ),
        };
        diags.push(Diagnostic::portability(c.span, message, hint));
    }
}

fn choice<T>(
    v: &Token<'_>,
    word: &str,
    parsed: Option<T>,
    words: &[&str],
    slot: &mut T,
    diags: &mut Diagnostics,
) {
    match parsed {
        Some(p) => *slot = p,
        None => diags.push(Diagnostic::error(
            v.span,
            format!("`{}` is not a {word} value", v.text),
            format!("write one of {}", words.join(", ")),
        )),
    }
}

impl<'a> Helpers<'a> {
    /// Applies `word VALUE`; returns false when `word` is not a helper keyword.
    pub fn keyword(&mut self, key: Token<'a>, word: &str, v: &Token<'a>, diags: &mut Diagnostics) -> bool {
        let t = v.text;
        let (f, n) = (&mut self.ftp, &mut self.tn3270);
        match word {
            "SecureFtp" => choice(v, word, SecureFtp::parse(t), SecureFtp::WORDS, &mut f.secure_ftp, diags),
            "SecureLogin" => {
                choice(v, word, SecureLogin::parse(t), SecureLogin::WORDS, &mut f.secure_login, diags);
                if f.secure_login == SecureLogin::VerifyUser {
                    self.user_checks.push(UserCheck { span: v.span, setting: UserSetting::VerifyUser });
                }
            }
            "SecureDataConn" => {
                choice(v, word, SecureDataConn::parse(t), SecureDataConn::WORDS, &mut f.secure_data, diags)
            }
            "SessionReuse" => {
                choice(v, word, SessionReuse::parse(t), SessionReuse::WORDS, &mut f.session_reuse, diags)
            }
            "Ccc" => choice(v, word, Ccc::parse(t), Ccc::WORDS, &mut f.ccc, diags),
            "PassivePorts" => match port_range(t) {
                Some(r) => f.passive_ports = Some(r),
                None => diags.push(Diagnostic::error(
                    v.span,
                    format!("`{t}` is not a port range LOW-HIGH within 1024-65535"),
                    "write e.g. `PassivePorts 50000-50100`",
                )),
            },
            "PassiveAddress" => match t.parse::<IpAddr>() {
                Ok(ip) => f.passive_address = Some(ip),
                Err(_) => diags.push(Diagnostic::error(
                    v.span,
                    format!("`{t}` is not an IP address"),
                    "write the address clients must dial, e.g. `PassiveAddress 203.0.113.7`",
                )),
            },
            "ConnType" => choice(v, word, ConnType::parse(t), ConnType::WORDS, &mut n.conn_type, diags),
            "ClientAuth" => {
                choice(v, word, ClientAuth::parse(t), ClientAuth::WORDS, &mut n.client_auth, diags);
                if n.client_auth == ClientAuth::SafCert {
                    self.user_checks.push(UserCheck { span: v.span, setting: UserSetting::SafCert });
                }
            }
            "StartTlsWait" => match t.parse::<u64>() {
                Ok(s) if s <= 3600 => n.start_tls_wait = Some(Duration::from_secs(s)),
                _ => diags.push(Diagnostic::error(
                    v.span,
                    "StartTlsWait needs seconds from 0 to 3600",
                    "write e.g. `StartTlsWait 2`",
                )),
            },
            _ => return false,
        }
        if FTP.contains(&word) {
            self.ftp_seen.get_or_insert(key);
        } else {
            self.tn3270_seen.get_or_insert(key);
        }
        true
    }

    /// Warns about keywords the listener's protocol does not use.
    pub fn check(&self, protocol: Protocol, diags: &mut Diagnostics) {
        let unused = [(self.ftp_seen, Protocol::Ftp), (self.tn3270_seen, Protocol::Tn3270)];
        for (seen, owner) in unused {
            if let Some(key) = seen.filter(|_| protocol != owner) {
                diags.push(Diagnostic::warning(
                    key.span,
                    format!(
                        "{} applies to Protocol {} listeners; this one is {}",
                        key.text,
                        owner.word(),
                        protocol.word()
                    ),
                    format!("add `Protocol {}` or remove the keyword", owner.word()),
                ));
            }
        }
    }
}

/// `LOW-HIGH` within 1024-65535, LOW ≤ HIGH.
fn port_range(s: &str) -> Option<(u16, u16)> {
    let (lo, hi) = s.split_once('-')?;
    let (lo, hi) = (lo.trim().parse::<u16>().ok()?, hi.trim().parse::<u16>().ok()?);
    (1024 <= lo && lo <= hi).then_some((lo, hi))
}
