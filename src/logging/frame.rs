//! One syslog datagram: the PRI (facility × 8 + severity), the header of the framing chosen
//! (RFC 3164 as syslog(3) writes it to `/dev/log`, or RFC 5424), the message ID in front of the
//! text, and the text on one line, cut to [`MAX_DATAGRAM`] bytes.

use std::time::{SystemTime, UNIX_EPOCH};

/// The longest datagram sent; a longer message is cut and ends with `...`. 2048 bytes is what
/// every `/dev/log` reader takes whole (older journald read LINE_MAX bytes).
pub const MAX_DATAGRAM: usize = 2048;

/// The syslog tag (RFC 5424 APP-NAME).
pub const TAG: &str = "pagent";

/// How a datagram is framed (`Log Syslog` or `Log Syslog Rfc5424`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `<PRI>pagent[PID]: TEXT`: the local form of RFC 3164 journald and rsyslog read on
    /// `/dev/log`; they stamp the time of receipt.
    Rfc3164,
    /// `<PRI>1 TIMESTAMP HOSTNAME pagent PID MSGID - TEXT`.
    Rfc5424,
}

/// The syslog facilities a rule's `SyslogFacility` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Facility {
    /// daemon (3): agent events and rules without `SyslogFacility Auth`.
    #[default]
    Daemon,
    /// auth (4).
    Auth,
}

impl Facility {
    /// `Daemon` or `Auth`, in any case (as `SyslogFacility` writes it).
    pub fn parse(word: &str) -> Option<Facility> {
        let word = word.trim_matches('"');
        if word.eq_ignore_ascii_case("daemon") {
            Some(Facility::Daemon)
        } else if word.eq_ignore_ascii_case("auth") {
            Some(Facility::Auth)
        } else {
            None
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Facility::Daemon => 3,
            Facility::Auth => 4,
        }
    }
}

/// The syslog severity of a tracing level: err, warning, info, debug.
pub fn severity(level: &tracing::Level) -> u8 {
    match *level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        _ => 7,
    }
}

/// What goes in front of the text.
pub struct Header<'a> {
    pub framing: Framing,
    pub facility: Facility,
    pub severity: u8,
    pub pid: u32,
    /// RFC 5424 HOSTNAME (`-` when unknown).
    pub hostname: &'a str,
    pub msgid: Option<&'a str>,
}

/// The datagram for `text` (one line; cut to [`MAX_DATAGRAM`] bytes).
pub fn datagram(h: &Header<'_>, text: &str) -> Vec<u8> {
    let pri = u16::from(h.facility.code()) * 8 + u16::from(h.severity);
    let mut out = match h.framing {
        Framing::Rfc3164 => format!("<{pri}>{TAG}[{}]: ", h.pid),
        Framing::Rfc5424 => format!(
            "<{pri}>1 {} {} {TAG} {} {} - ",
            timestamp(SystemTime::now()),
            h.hostname,
            h.pid,
            h.msgid.unwrap_or("-")
        ),
    };
    if let Some(id) = h.msgid {
        out.push_str(id);
        out.push(' ');
    }
    push_line(&mut out, text.trim_end());
    cut(&mut out, MAX_DATAGRAM);
    out.into_bytes()
}

/// Appends `text` on one line: a line break becomes ` | `, other control characters a space.
fn push_line(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\n' => out.push_str(" | "),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
        if out.len() > MAX_DATAGRAM {
            return;
        }
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary, ending with `...` when cut.
fn cut(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max - 3;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push_str("...");
}

/// RFC 5424 TIMESTAMP in UTC, to the millisecond: `2025-01-31T12:00:00.000Z`.
pub fn timestamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar, in 400-year eras).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The RFC 5424 HOSTNAME: the kernel's host name, printable ASCII without spaces, else `-`.
pub fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim();
    if name.is_empty() || name.len() > 255 || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return "-".into();
    }
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn header(framing: Framing, facility: Facility, msgid: Option<&'static str>) -> Header<'static> {
        Header { framing, facility, severity: 4, pid: 42, hostname: "box", msgid }
    }

    #[test]
    fn rfc3164_has_pri_tag_pid_and_the_id_in_front() {
        let d = datagram(&header(Framing::Rfc3164, Facility::Auth, Some("ATL1286W")), "handshake failed\n");
        assert_eq!(String::from_utf8(d).unwrap(), "<36>pagent[42]: ATL1286W handshake failed");
    }

    #[test]
    fn rfc5424_has_the_id_as_msgid_too() {
        let d = datagram(&header(Framing::Rfc5424, Facility::Daemon, Some("ATL0100I")), "policy loaded");
        let d = String::from_utf8(d).unwrap();
        let f: Vec<&str> = d.splitn(8, ' ').collect();
        assert_eq!((f[0], f[2], f[3], f[4], f[5], f[6]), ("<28>1", "box", "pagent", "42", "ATL0100I", "-"));
        assert_eq!(f[7], "ATL0100I policy loaded");
        assert!(f[1].ends_with('Z') && f[1].len() == 24, "{}", f[1]);
        let none = datagram(&header(Framing::Rfc5424, Facility::Daemon, None), "x");
        assert!(String::from_utf8(none).unwrap().contains(" pagent 42 - - x"));
    }

    #[test]
    fn lines_are_joined_and_long_messages_cut_at_a_character() {
        let d = datagram(&header(Framing::Rfc3164, Facility::Daemon, None), "a\nb\tc");
        assert_eq!(String::from_utf8(d).unwrap(), "<28>pagent[42]: a | b c");
        let long = "é".repeat(MAX_DATAGRAM);
        let d =
            String::from_utf8(datagram(&header(Framing::Rfc3164, Facility::Daemon, None), &long)).unwrap();
        assert!(d.len() <= MAX_DATAGRAM && d.len() > MAX_DATAGRAM - 8, "{}", d.len());
        assert!(d.ends_with("é..."), "{}", &d[d.len() - 10..]);
    }

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123 + 86_400_000);
        assert_eq!(timestamp(t), "2000-03-01T00:00:00.123Z");
        assert_eq!(timestamp(UNIX_EPOCH + Duration::from_secs(1_709_210_096)), "2024-02-29T12:34:56.000Z");
    }

    #[test]
    fn facilities_and_severities() {
        assert_eq!(Facility::parse("AUTH"), Some(Facility::Auth));
        assert_eq!(Facility::parse("\"Daemon\""), Some(Facility::Daemon));
        assert_eq!(Facility::parse("local0"), None);
        assert_eq!(severity(&tracing::Level::ERROR), 3);
        assert_eq!(severity(&tracing::Level::INFO), 6);
        assert_eq!(severity(&tracing::Level::TRACE), 7);
    }
}
