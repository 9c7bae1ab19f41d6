//! The inventory as `pagent clients` shows it: a [`Report`] the agent sends as JSON through the
//! control socket (`clients` op, docs/control-protocol.md) and the command reads back, judges
//! against a candidate policy ([`super::verdict`]) and prints as a table or JSON. The JSON keys are
//! a contract (docs/clients.md#json).
//!
//! Spellings: versions as words (`TLSv1.3`, other numbers as 4 hex digits), cipher suites and
//! signature algorithms as 4 hex digits (`C02F`, `0403`), groups as 4 decimal digits (`0029`), as
//! policies write them; times in RFC 3339 (UTC).

use std::fmt::Write as _;
use std::net::IpAddr;

use serde_json::{Map, Value, json};

use super::hello::ClientHello;
use super::{CertSent, Limits, Profile, Seen};

/// Everything the inventory holds (or its part for one rule).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `None`: the inventory is off.
    pub limits: Option<Limits>,
    /// Connections of rules that found the inventory at its limit of rules.
    pub rules_dropped: u64,
    pub rules: Vec<RuleReport>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleReport {
    pub rule: String,
    pub profiles: Vec<ProfileReport>,
    /// Connections whose profile was new when the rule had its limit of profiles.
    pub profiles_dropped: u64,
    /// Handshakes whose first bytes were no readable ClientHello.
    pub unparsed: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProfileReport {
    pub profile: Profile,
    pub connections: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub example_ip: Option<IpAddr>,
    /// Set by a check against a candidate policy: why the client would fail (empty: it would pass).
    pub verdict: Option<Vec<String>>,
}

impl ProfileReport {
    pub(super) fn new(p: &Profile, s: &Seen) -> ProfileReport {
        ProfileReport {
            profile: p.clone(),
            connections: s.connections,
            first_seen: crate::netstat::rfc3339(s.first),
            last_seen: crate::netstat::rfc3339(s.last),
            example_ip: s.example_ip.map(plain_ip),
            verdict: None,
        }
    }
}

/// IPv4-mapped IPv6 shown as IPv4 (docs/decisions.md D2).
fn plain_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A protocol version as a word (`TLSv1.2`), else 4 hex digits.
pub fn version_word(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        other => format!("{other:04X}"),
    }
}

fn version_of(word: &str) -> Option<u16> {
    (0x0300..=0x0304).find(|v| version_word(*v) == word).or_else(|| u16::from_str_radix(word, 16).ok())
}

/// A key-exchange group's name for the table (its number when unknown).
pub fn group_name(g: u16) -> String {
    let name = match g {
        23 => "secp256r1",
        24 => "secp384r1",
        25 => "secp521r1",
        29 => "x25519",
        30 => "x448",
        256 => "ffdhe2048",
        257 => "ffdhe3072",
        258 => "ffdhe4096",
        259 => "ffdhe6144",
        260 => "ffdhe8192",
        0x11EB => "secp256r1mlkem768",
        0x11EC => "x25519mlkem768",
        0x11ED => "secp384r1mlkem1024",
        other => return format!("{other:04}"),
    };
    name.to_string()
}

fn hex_list(v: &[u16]) -> Value {
    json!(v.iter().map(|c| format!("{c:04X}")).collect::<Vec<_>>())
}

fn dec_list(v: &[u16]) -> Value {
    json!(v.iter().map(|c| format!("{c:04}")).collect::<Vec<_>>())
}

impl Report {
    /// The JSON form (docs/clients.md#json).
    pub fn to_json(&self) -> Value {
        let limits = self.limits.map(|l| json!({"profiles_per_rule": l.profiles_per_rule, "rules": l.rules}));
        json!({
            "enabled": self.limits.is_some(),
            "limits": limits,
            "rules_dropped": self.rules_dropped,
            "rules": self.rules.iter().map(RuleReport::to_json).collect::<Vec<_>>(),
        })
    }

    /// Reads the JSON form back (what `pagent clients` gets from the agent).
    pub fn from_json(v: &Value) -> Result<Report, String> {
        let limits = match &v["limits"] {
            Value::Null => None,
            l => Some(Limits {
                profiles_per_rule: usize_of(&l["profiles_per_rule"])?,
                rules: usize_of(&l["rules"])?,
            }),
        };
        let rules =
            array(&v["rules"], "rules")?.iter().map(RuleReport::from_json).collect::<Result<_, _>>()?;
        Ok(Report { limits, rules_dropped: u64_of(&v["rules_dropped"])?, rules })
    }
}

impl RuleReport {
    /// Connections recorded in this rule's profiles.
    pub fn connections(&self) -> u64 {
        self.profiles.iter().map(|p| p.connections).sum()
    }

    fn to_json(&self) -> Value {
        json!({
            "rule": self.rule,
            "connections": self.connections(),
            "profiles_dropped": self.profiles_dropped,
            "unparsed": self.unparsed,
            "profiles": self.profiles.iter().map(ProfileReport::to_json).collect::<Vec<_>>(),
        })
    }

    fn from_json(v: &Value) -> Result<RuleReport, String> {
        let profiles = array(&v["profiles"], "profiles")?;
        Ok(RuleReport {
            rule: str_of(&v["rule"])?.to_string(),
            profiles: profiles.iter().map(ProfileReport::from_json).collect::<Result<_, _>>()?,
            profiles_dropped: u64_of(&v["profiles_dropped"])?,
            unparsed: u64_of(&v["unparsed"])?,
        })
    }
}

impl ProfileReport {
    fn to_json(&self) -> Value {
        let h = &self.profile.hello;
        let mut m = Map::new();
        m.insert("version".into(), json!(version_word(h.highest_version())));
        let versions = h.versions.as_ref().map(|v| v.iter().map(|x| version_word(*x)).collect::<Vec<_>>());
        m.insert("versions".into(), json!(versions));
        m.insert("legacy_version".into(), json!(version_word(h.legacy_version)));
        m.insert("cipher_suites".into(), hex_list(&h.cipher_suites));
        m.insert("groups".into(), h.groups.as_deref().map_or(Value::Null, dec_list));
        m.insert(
            "signature_algorithms".into(),
            h.signature_algorithms.as_deref().map_or(Value::Null, hex_list),
        );
        m.insert("sni".into(), json!(h.server_name));
        m.insert("alpn".into(), json!(h.alpn));
        m.insert("certificate".into(), json!(self.profile.certificate.word()));
        m.insert("truncated".into(), json!(h.truncated));
        m.insert("connections".into(), json!(self.connections));
        m.insert("first_seen".into(), json!(self.first_seen));
        m.insert("last_seen".into(), json!(self.last_seen));
        m.insert("example_ip".into(), json!(self.example_ip.map(|ip| ip.to_string())));
        if let Some(reasons) = &self.verdict {
            m.insert("verdict".into(), json!(if reasons.is_empty() { "OK" } else { "FAIL" }));
            m.insert("reasons".into(), json!(reasons));
        }
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Result<ProfileReport, String> {
        let versions = opt_list(&v["versions"], version_of)?;
        let hello = ClientHello {
            legacy_version: version_of(str_of(&v["legacy_version"])?).ok_or("bad legacy_version")?,
            versions,
            cipher_suites: opt_list(&v["cipher_suites"], |s| u16::from_str_radix(s, 16).ok())?
                .unwrap_or_default(),
            groups: opt_list(&v["groups"], |s| s.parse().ok())?,
            signature_algorithms: opt_list(&v["signature_algorithms"], |s| u16::from_str_radix(s, 16).ok())?,
            server_name: v["sni"].as_str().map(String::from),
            alpn: opt_list(&v["alpn"], |s| Some(s.to_string()))?,
            truncated: v["truncated"].as_bool().unwrap_or(false),
        };
        let certificate = CertSent::from_word(str_of(&v["certificate"])?).ok_or("bad certificate")?;
        let example_ip =
            v["example_ip"].as_str().map(|s| s.parse().map_err(|_| "bad example_ip")).transpose()?;
        Ok(ProfileReport {
            profile: Profile { hello, certificate },
            connections: u64_of(&v["connections"])?,
            first_seen: str_of(&v["first_seen"])?.to_string(),
            last_seen: str_of(&v["last_seen"])?.to_string(),
            example_ip,
            verdict: None,
        })
    }
}

fn u64_of(v: &Value) -> Result<u64, String> {
    v.as_u64().ok_or_else(|| format!("not a count: {v}"))
}

fn usize_of(v: &Value) -> Result<usize, String> {
    u64_of(v).map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

fn str_of(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| format!("not a string: {v}"))
}

fn array<'v>(v: &'v Value, what: &str) -> Result<&'v Vec<Value>, String> {
    v.as_array().ok_or_else(|| format!("`{what}` is not an array"))
}

/// A list of strings read with `f` (null: `None`).
fn opt_list<T>(v: &Value, f: impl Fn(&str) -> Option<T>) -> Result<Option<Vec<T>>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let items = v.as_array().ok_or_else(|| format!("not a list: {v}"))?;
    items
        .iter()
        .map(|i| i.as_str().and_then(&f).ok_or_else(|| format!("bad value {i}")))
        .collect::<Result<_, _>>()
        .map(Some)
}

/// At most three values, then how many more (`1302,1303,1301,+28`); `-` for none or absent.
fn short(values: Option<Vec<String>>) -> String {
    let Some(values) = values.filter(|v| !v.is_empty()) else { return "-".into() };
    let mut out = values.iter().take(3).cloned().collect::<Vec<_>>().join(",");
    if values.len() > 3 {
        let _ = write!(out, ",+{}", values.len() - 3);
    }
    out
}

const HEADER: [&str; 12] = [
    "Rule",
    "Version",
    "Suites",
    "Groups",
    "SigAlgs",
    "SNI",
    "ALPN",
    "Cert",
    "Conns",
    "First seen",
    "Last seen",
    "Example IP",
];

fn row(rule: &str, p: &ProfileReport) -> Vec<String> {
    let h = &p.profile.hello;
    let hex = |v: &[u16]| v.iter().map(|c| format!("{c:04X}")).collect::<Vec<_>>();
    let mut row = vec![
        rule.to_string(),
        version_word(h.highest_version()),
        short(Some(hex(&h.cipher_suites))),
        short(h.groups.as_ref().map(|g| g.iter().map(|n| group_name(*n)).collect())),
        short(h.signature_algorithms.as_deref().map(hex)),
        h.server_name.clone().unwrap_or_else(|| "-".into()),
        short(h.alpn.clone()),
        p.profile.certificate.word().to_string(),
        p.connections.to_string(),
        p.first_seen.clone(),
        p.last_seen.clone(),
        p.example_ip.map_or_else(|| "-".into(), |ip| ip.to_string()),
    ];
    if let Some(reasons) = &p.verdict {
        row.push(if reasons.is_empty() { "OK".into() } else { format!("FAIL: {}", reasons.join("; ")) });
    }
    row
}

/// The table: one line per profile, then one line per rule with its counts.
pub fn text(report: &Report) -> String {
    let Some(limits) = report.limits else {
        return "the client inventory is off (ClientInventory Off in the main configuration)\n".into();
    };
    let judged = report.rules.iter().flat_map(|r| &r.profiles).any(|p| p.verdict.is_some());
    let mut header: Vec<String> = HEADER.iter().map(|h| h.to_string()).collect();
    if judged {
        header.push("Verdict".into());
    }
    let rows: Vec<Vec<String>> =
        report.rules.iter().flat_map(|r| r.profiles.iter().map(|p| row(&r.rule, p))).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, v) in widths.iter_mut().zip(r) {
            *w = (*w).max(v.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (v, w) in r.iter().zip(&widths) {
            let _ = write!(line, "{v:<w$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for r in &report.rules {
        let _ = writeln!(
            out,
            "rule {}: {} profiles (limit {}), {} connections, {} dropped (new profiles past the limit), {} unparsed",
            r.rule,
            r.profiles.len(),
            limits.profiles_per_rule,
            r.connections(),
            r.profiles_dropped,
            r.unparsed
        );
    }
    if report.rules_dropped > 0 {
        let _ = writeln!(
            out,
            "{} connections of rules past the limit of {} rules were not recorded",
            report.rules_dropped, limits.rules
        );
    }
    out
}
