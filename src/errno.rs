//! The errno names a control request can fail with, as z/OS SIOCTTLSCTL reports them: one list for
//! the engine, which refuses requests, and the control protocol, which carries the refusals.

use serde::Serialize;

/// A z/OS-style errno, written by its name (`EINVAL`) on the wire and in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Errno {
    Einval,
    Eperm,
    Enoent,
    Enotconn,
    Eacces,
    Eopnotsupp,
    Emvserr,
    Ealready,
    Eproto,
    Econnreset,
    Epipe,
    Ebusy,
}

impl Errno {
    pub fn name(self) -> &'static str {
        match self {
            Errno::Einval => "EINVAL",
            Errno::Eperm => "EPERM",
            Errno::Enoent => "ENOENT",
            Errno::Enotconn => "ENOTCONN",
            Errno::Eacces => "EACCES",
            Errno::Eopnotsupp => "EOPNOTSUPP",
            Errno::Emvserr => "EMVSERR",
            Errno::Ealready => "EALREADY",
            Errno::Eproto => "EPROTO",
            Errno::Econnreset => "ECONNRESET",
            Errno::Epipe => "EPIPE",
            Errno::Ebusy => "EBUSY",
        }
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Errno;

    #[test]
    fn serialized_as_the_name() {
        for e in [Errno::Einval, Errno::Ealready, Errno::Eopnotsupp, Errno::Econnreset] {
            assert_eq!(serde_json::to_value(e).unwrap(), serde_json::json!(e.name()));
        }
    }
}
