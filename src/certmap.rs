//! The certificate-to-user map (`CertUserMap PATH` in the main configuration, docs/decisions.md
//! D37): which Linux user name a validated client certificate stands for, its CertUserID.
//!
//! The file holds lines `PATTERN USER`; `#` starts a comment at the start of a line or after a
//! blank; blank lines are ignored. PATTERN is a subject DN pattern or a SAN pattern
//! ([`pattern`]); USER is the last word of the line. The first line whose pattern matches the
//! certificate ([`names`]) gives its user. The file is read by each policy generation (at start
//! and at every refresh, and watched like a keyring): a file with an error is refused whole, with
//! every error in the D11 shape (`FILE:LINE:COL: error: …`, hint), and that load fails.
//!
//! What uses the map: `ClientAuthType SAFCheck`, TN3270 `ClientAuth SafCert` and FTP
//! `SecureLogin VerifyUser` (see docs/policy-reference.md), and every report of the connection.

mod file;
pub mod names;
pub mod pattern;

use std::path::{Path, PathBuf};

pub use file::{MAX_FILE_BYTES, MAX_LINE_BYTES, MAX_LINES, MAX_USER_CHARS};
pub use names::CertNames;
use pattern::Pattern;

/// One line of the map.
#[derive(Debug, Clone)]
struct MapLine {
    /// 1-based line number in the file.
    line: usize,
    pattern: Pattern,
    user: String,
}

/// A map file, read and checked.
#[derive(Debug, Clone)]
pub struct CertUserMap {
    pub path: PathBuf,
    lines: Vec<MapLine>,
}

/// A map file that cannot be used: every diagnostic, rendered in the D11 shape, and a summary.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct MapError(pub String);

/// What the map says of one client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The user of the first matching line, and that line's number.
    User(String, usize),
    /// No line matches; the certificate's names, for the log.
    NoLine(String),
    /// The certificate gets no user whatever the lines say (unreadable, beyond a limit): why.
    Unusable(String),
}

impl CertUserMap {
    /// Reads and checks the file; the warnings of a usable one come back rendered.
    pub fn load(path: &Path) -> Result<(CertUserMap, String), MapError> {
        file::load(path)
    }

    /// Checks a map given as text, as [`CertUserMap::load`] does after reading `path`.
    pub fn parse(path: &Path, text: &str) -> Result<(CertUserMap, String), MapError> {
        file::parse(path, text)
    }

    /// How many lines map certificates.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The user of the first line matching `names`, with its line number.
    pub fn user_of(&self, names: &CertNames) -> Option<(&str, usize)> {
        self.lines.iter().find(|l| l.pattern.matches(names)).map(|l| (l.user.as_str(), l.line))
    }

    /// What the map says of a DER certificate.
    pub fn lookup(&self, der: &[u8]) -> Lookup {
        match CertNames::of(der) {
            Err(why) => Lookup::Unusable(why),
            Ok(names) => match self.user_of(&names) {
                Some((user, line)) => Lookup::User(user.to_string(), line),
                None => Lookup::NoLine(names.describe()),
            },
        }
    }
}

impl Lookup {
    /// The mapped user, if any.
    pub fn user(&self) -> Option<&str> {
        match self {
            Lookup::User(u, _) => Some(u),
            _ => None,
        }
    }

    /// Why the certificate has no user, for the log (`None` when it has one).
    pub fn why_none(&self) -> Option<String> {
        match self {
            Lookup::User(..) => None,
            Lookup::NoLine(names) => Some(format!("no line of the CertUserMap matches its {names}")),
            Lookup::Unusable(why) => Some(format!("the certificate cannot be mapped: {why}")),
        }
    }
}

/// Why a connection has no CertUserID: what its lookup said, or that there was no validated
/// client certificate to look up.
pub fn why_no_user(lookup: Option<&Lookup>) -> String {
    lookup.and_then(Lookup::why_none).unwrap_or_else(|| "no validated client certificate".into())
}

#[cfg(test)]
mod tests;
