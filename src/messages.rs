//! The stable IDs of the agent's log messages: one constant per message, all in this one table so
//! no ID is used twice. A log line carries its ID as the `msgid` field (text and JSON output) and,
//! in syslog, in front of the text and as the RFC 5424 MSGID (docs/messages.md lists each ID, its
//! fields, the operator's action and the z/OS AT-TLS message it corresponds to).
//!
//! An ID is `ATL`, four digits and the severity letter, as z/OS writes its messages: `I`
//! information, `W` warning, `E` error (the letter matches the level the line is logged at).
//! The numbers group by area: 00xx the agent, 01xx the policy, 02xx certificates, 03xx
//! revocation, 12xx a connection's life (1281–1287 after the z/OS EZD1281I–EZD1287I it
//! corresponds to), 13xx refusals and backends, 14xx the FTP helper, 15xx the TN3270 helper.
//! An ID, once released, keeps its meaning; a message that goes away leaves its number unused.

/// Defines one `pub const NAME: &str = "ID";` per message and [`ALL`], every (name, ID) pair.
macro_rules! message_ids {
    ($($(#[doc = $doc:literal])* $name:ident = $id:literal;)*) => {
        $($(#[doc = $doc])* pub const $name: &str = $id;)*
        /// Every message: its constant's name and its ID, in table order.
        pub const ALL: &[(&str, &str)] = &[$((stringify!($name), $id)),*];
    };
}

message_ids! {
    /// The agent started: every listener bound, the first policy installed.
    STARTED = "ATL0001I";
    /// A listener is bound.
    LISTENING = "ATL0002I";
    /// The plaintext demo backend is bound.
    DEMO_LISTENING = "ATL0003I";
    /// The control socket is bound.
    CONTROL_LISTENING = "ATL0004I";
    /// ControlGroup names no group: only root may use the control socket.
    CONTROL_GROUP_UNKNOWN = "ATL0005W";
    /// accept on the control socket failed (retried).
    CONTROL_ACCEPT_FAILED = "ATL0006W";
    /// The descriptor limit (RLIMIT_NOFILE) the agent runs with.
    DESCRIPTOR_LIMIT = "ATL0007I";
    /// The descriptor limit could not be raised.
    DESCRIPTOR_LIMIT_NOT_RAISED = "ATL0008W";
    /// accept on the demo backend failed (retried).
    DEMO_ACCEPT_FAILED = "ATL0009W";
    /// A warning about the main configuration.
    CONFIG_WARNING = "ATL0010W";
    /// The agent did not start (sent to syslog; standard error has it too).
    NOT_STARTED = "ATL0011E";
    /// `Log Syslog`, but the syslog socket cannot be reached at start: the log goes to stderr.
    SYSLOG_UNAVAILABLE = "ATL0012W";
    /// Log messages the syslog socket did not take (full or gone) were dropped.
    SYSLOG_DROPPED = "ATL0013W";
    /// SIGTERM or SIGINT: the agent stops (PURGE, or nothing live).
    SHUTTING_DOWN = "ATL0020I";
    /// SIGTERM or SIGINT under NOPURGE: live connections drain first.
    DRAINING = "ATL0021I";
    /// A second termination signal while draining: live connections close now.
    SECOND_SIGNAL = "ATL0022I";
    /// netlink sock_diag is unavailable: owners are read from /proc/net/tcp (slower).
    SOCK_DIAG_UNAVAILABLE = "ATL0050W";
    /// One sock_diag lookup failed: /proc/net/tcp is read for it.
    SOCK_DIAG_FAILED = "ATL0051W";
    /// No process holds an intercepted socket within the scan bound: its owner is unknown.
    OWNER_SCAN_BOUND = "ATL0052W";
    /// The metrics endpoint is listening (`MetricsListen`).
    METRICS_LISTENING = "ATL0030I";
    /// The audit log is open (at start).
    AUDIT_OPEN = "ATL0040I";
    /// SIGUSR1: the audit log is opened again (log rotation).
    AUDIT_REOPEN = "ATL0041I";
    /// The audit log is written again after failed writes.
    AUDIT_RECOVERED = "ATL0042I";
    /// Audit records were dropped (the writer fell behind or the file could not be written).
    AUDIT_DROPPED = "ATL0043W";
    /// The audit writer stopped: no more records are written.
    AUDIT_WRITER_LOST = "ATL0044E";
    /// Writing or reopening the audit log failed (retried).
    AUDIT_WRITE_FAILED = "ATL0045E";
    /// SIGUSR1 without an AuditLog: nothing to reopen.
    AUDIT_NONE = "ATL0046I";
    /// A policy generation is installed (at start and at every refresh).
    POLICY_LOADED = "ATL0100I";
    /// The policy installed has warnings.
    POLICY_WARNINGS = "ATL0101W";
    /// A refresh failed: the previous policy stays in force.
    POLICY_NOT_INSTALLED = "ATL0102E";
    /// The TicketKeyFile could not be read again: the keys read before stay in use.
    TICKET_KEYS_KEPT = "ATL0103W";
    /// File watching is unavailable: refresh by SIGHUP or `pagent refresh`.
    WATCH_UNAVAILABLE = "ATL0104W";
    /// Policy files still changing: not reloaded yet.
    FILES_UNSETTLED = "ATL0105W";
    /// A directory cannot be watched.
    WATCH_DIR_FAILED = "ATL0106W";
    /// `WatchFiles Off`: changed files wait for a refresh.
    WATCH_OFF = "ATL0107I";
    /// `pagent refresh --dry-run` compared the files on disk with the running policy.
    DRY_RUN = "ATL0108I";
    /// A used certificate's NotAfter (at start and refresh).
    CERT_NOT_AFTER = "ATL0200I";
    /// A used certificate expires within ExpiryWarningDays (or a non-server one has expired).
    CERT_EXPIRING = "ATL0201W";
    /// A server certificate has expired; it is still served.
    CERT_EXPIRED = "ATL0202E";
    /// A CRL distribution point was not fetched: no thread.
    CRL_THREAD_FAILED = "ATL0300W";
    /// A fetched CRL revokes a certificate it did not revoke before.
    CRL_NEWLY_REVOKES = "ATL0301I";
    /// A CRL was fetched from a distribution point.
    CRL_FETCHED = "ATL0302I";
    /// A CRL distribution point could not be used.
    CRL_NOT_FETCHED = "ATL0303W";
    /// A CRL fetched from a distribution point could not be used.
    CRL_NOT_USED = "ATL0304W";
    /// An OCSP responder revokes a certificate not known revoked before.
    OCSP_NEWLY_REVOKES = "ATL0305I";
    /// An OCSP query failed: status unknown.
    OCSP_UNKNOWN = "ATL0306W";
    /// A handshake refused: OCSP status unknown under RevocationSecurityLevel High.
    OCSP_REFUSED_UNKNOWN = "ATL0307I";
    /// The server's stapled OCSP response is not used.
    STAPLE_NOT_USED = "ATL0308I";
    /// OCSP stapling is off for a certificate.
    STAPLING_OFF = "ATL0309W";
    /// An OCSP response is stapled.
    STAPLED = "ATL0310I";
    /// No OCSP response for stapling (retried).
    STAPLE_NOT_HAD = "ATL0311W";
    /// The actions a connection's rule resolved to (Trace 4).
    MAPPED = "ATL1280I";
    /// A connection is mapped to a rule (or to none): z/OS EZD1281I, TTLS Map.
    OPEN = "ATL1281I";
    /// A handshake starts (Trace 8): z/OS EZD1282I, TTLS Start.
    HANDSHAKE_STARTED = "ATL1282I";
    /// A handshake is done: z/OS EZD1283I, TTLS Event.
    SECURE = "ATL1283I";
    /// Byte counts per direction at the end (Trace 16): z/OS EZD1284I, TTLS Flow.
    FLOW = "ATL1284I";
    /// A handshake failed, with the z/OS return code: z/OS EZD1286I and EZD1287I, TTLS Error.
    HANDSHAKE_FAILED = "ATL1286W";
    /// A handshake refused: the certificate maps to no user (rc 5002).
    HANDSHAKE_NO_USER = "ATL1287W";
    /// A connection ends, with its byte counts (and why, when it broke).
    CLOSE = "ATL1290I";
    /// A connection is closed at shutdown (PURGE).
    CLOSED_PURGE = "ATL1291I";
    /// Refused: the owner is unknown and rules condition on Jobname or Userid.
    REFUSED_OWNER_UNKNOWN = "ATL1300W";
    /// Refused: no rule applies (NoPolicy Refuse).
    REFUSED_NO_POLICY = "ATL1301W";
    /// Refused: MaxConnections reached.
    REFUSED_MAX_CONNECTIONS = "ATL1302W";
    /// Refused: too many connections from one address (MaxConnectionsPerSource).
    REFUSED_PER_SOURCE = "ATL1303W";
    /// accept on a listener failed (retried).
    ACCEPT_FAILED = "ATL1304W";
    /// The backend (the other side) could not be reached.
    BACKEND_FAILED = "ATL1305W";
    /// The backend is connected (Trace 8).
    BACKEND_CONNECTED = "ATL1306I";
    /// Refused: no server name (ServerHandshakeSNI Required).
    REFUSED_NO_SNI = "ATL1307W";
    /// Refused: the server name is not listed (ServerHandshakeSNIMatch Required).
    REFUSED_SNI_NOT_LISTED = "ATL1308W";
    /// FTP: a data connection from another address than the client's (port theft).
    FTP_PORT_THEFT = "ATL1400W";
    /// FTP: a passive data connection failed.
    FTP_PASSIVE_FAILED = "ATL1401W";
    /// FTP: no passive data connection came in time.
    FTP_PASSIVE_TIMEOUT = "ATL1402I";
    /// FTP: a data connection refused.
    FTP_DATA_REFUSED = "ATL1403W";
    /// FTP: a reply of the server could not be read.
    FTP_UNREADABLE_REPLY = "ATL1404W";
    /// FTP: a passive listener could not be opened.
    FTP_PASSIVE_LISTENER = "ATL1405W";
    /// FTP: AUTH TLS refused.
    FTP_AUTH_TLS_REFUSED = "ATL1406W";
    /// FTP: the control connection is clear after CCC.
    FTP_CCC = "ATL1407I";
    /// FTP: SecureLogin needs a client certificate the rule never asks for.
    FTP_SECURE_LOGIN_MISMATCH = "ATL1408W";
    /// FTP: a login refused: the certificate maps to another user.
    FTP_LOGIN_OTHER_USER = "ATL1409W";
    /// FTP: a login refused: no user ID for the certificate (rc 5002).
    FTP_LOGIN_NO_USER = "ATL1410W";
    /// FTP: a data connection is mapped.
    FTP_DATA_OPEN = "ATL1411I";
    /// FTP: a data connection closed before its handshake.
    FTP_DATA_NO_HANDSHAKE = "ATL1412I";
    /// FTP: a data connection ends.
    FTP_DATA_CLOSE = "ATL1413I";
    /// FTP: a data connection aborted; both sides reset.
    FTP_DATA_ABORTED = "ATL1414W";
    /// TN3270: a TLS rule that cannot serve a TN3270 client.
    TN3270_CANNOT_SERVE = "ATL1500W";
    /// TN3270: the connection closed during negotiation.
    TN3270_CLOSED = "ATL1501I";
    /// TN3270: the connection stays clear.
    TN3270_CLEAR = "ATL1502I";
    /// TN3270: closed, no validated client certificate.
    TN3270_NO_CLIENT_CERT = "ATL1503W";
    /// TN3270: closed, no user ID for the certificate (rc 5002).
    TN3270_NO_USER = "ATL1504W";
}

#[cfg(test)]
mod tests {
    use super::ALL;

    #[test]
    fn every_id_is_well_formed_and_used_once() {
        let mut numbers = std::collections::BTreeSet::new();
        for (name, id) in ALL {
            let b = id.as_bytes();
            let ok = b.len() == 8
                && id.starts_with("ATL")
                && b[3..7].iter().all(u8::is_ascii_digit)
                && matches!(b[7], b'I' | b'W' | b'E');
            assert!(ok, "{name}: `{id}` is not ATL, four digits and I, W or E");
            assert!(numbers.insert(&id[..7]), "{name}: the number of `{id}` is used twice");
        }
    }
}
