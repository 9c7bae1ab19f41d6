//! Leaf value parsers (nom): numbers, ports, addresses, prefixes, ranges, job names, cipher and group
//! strings. Each turns one written value into a typed [`Value`], or notes what is wrong with it and
//! where inside the value; the caller turns notes into diagnostics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use nom::{
    IResult, Parser,
    bytes::complete::{tag, take_while_m_n, take_while1},
    character::complete::{char, digit1},
    combinator::{all_consuming, map_res, opt},
    multi::many1,
    sequence::{preceded, separated_pair},
};

use super::ast::{AddrMatch, PortSpan, Value};
use super::catalog::{Param, ValueType};
use super::ciphers;
use super::diag::nearest;

/// Something to report about a value; byte offsets are relative to the value text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub error: bool,
    pub portability: bool,
    pub group: Option<String>,
    pub start: usize,
    pub end: usize,
    pub message: String,
    pub hint: String,
}

impl Note {
    fn error(start: usize, end: usize, message: String, hint: impl Into<String>) -> Self {
        Note { error: true, portability: false, group: None, start, end, message, hint: hint.into() }
    }
    fn warning(start: usize, end: usize, message: String, hint: impl Into<String>) -> Self {
        Note { error: false, ..Note::error(start, end, message, hint) }
    }
    fn quirk(start: usize, end: usize, message: String, hint: impl Into<String>, group: &str) -> Self {
        Note { portability: true, group: Some(group.into()), ..Note::warning(start, end, message, hint) }
    }
}

type Notes = Vec<Note>;

/// Parses the value of `param` as written (`text`, quotes already removed).
pub fn parse_value(param: &Param, text: &str, notes: &mut Notes) -> Option<Value> {
    let whole = |msg: String, hint: &str| Note::error(0, text.len(), msg, hint);
    if let Some(n) = placeholder(param, text) {
        notes.push(n);
        return None;
    }
    match param.ty {
        ValueType::OnOff => match text.to_ascii_lowercase().as_str() {
            "on" => Some(Value::OnOff(true)),
            "off" => Some(Value::OnOff(false)),
            _ => {
                notes.push(whole(
                    format!("{} must be On or Off, not `{text}`", param.name),
                    "write On or Off",
                ));
                None
            }
        },
        ValueType::Int(min, max) => match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Some(Value::Int(n)),
            Ok(n) => {
                notes.push(whole(
                    format!("{} value {n} is out of range {min}-{max}", param.name),
                    &format!("write a whole number from {min} to {max}"),
                ));
                None
            }
            Err(_) => {
                notes.push(whole(
                    format!("{} needs a number, not `{text}`", param.name),
                    &format!("write a whole number from {min} to {max}"),
                ));
                None
            }
        },
        ValueType::Enum(words) => match words.iter().find(|w| w.eq_ignore_ascii_case(text)) {
            Some(w) => Some(Value::Enum(w)),
            None => {
                notes.push(whole(
                    format!("`{text}` is not a value of {}", param.name),
                    &format!("write one of: {}", words.join(", ")),
                ));
                None
            }
        },
        ValueType::Text | ValueType::Token => Some(Value::Text(text.to_string())),
        ValueType::Ref(kind) => {
            if let Some(n) = bad_name(text) {
                notes.push(n);
                return None;
            }
            let _ = kind;
            Some(Value::Ref(text.to_string()))
        }
        ValueType::AddrSpec => addr_spec(text, notes).map(Value::Addr),
        ValueType::Addr => {
            let ip = address(text, 0, notes)?;
            Some(Value::Addr(AddrMatch::Net(IpNet::from(ip))))
        }
        ValueType::Prefix => prefix(text, notes).map(Value::Addr),
        ValueType::Range => range(text, notes).map(Value::Addr),
        ValueType::Ports => ports(text, notes).map(Value::Ports),
        ValueType::Jobname => jobname(param.name, text, notes).map(Value::Jobname),
        ValueType::Cipher2 => cipher_string(text, 2, notes).map(Value::Ciphers),
        ValueType::Cipher4 => cipher_string(text, 4, notes).map(Value::Ciphers),
        ValueType::Groups => groups(param.name, text, notes).map(Value::Groups),
        ValueType::HexPairs => hex_pairs(param.name, text, notes).map(Value::HexPairs),
    }
}

/// Template placeholders such as `[zss_port]`, `<port>`, `${PORT}` or `"port number"` left where a
/// number or address belongs (D31): an error with a hint.
fn placeholder(param: &Param, text: &str) -> Option<Note> {
    let numeric = matches!(
        param.ty,
        ValueType::Int(..)
            | ValueType::Ports
            | ValueType::AddrSpec
            | ValueType::Addr
            | ValueType::Prefix
            | ValueType::Range
    );
    let looks = text.starts_with(['[', '<', '$', '%', '&'])
        || (text.contains(' ') && numeric)
        || (text.contains('_') && numeric && !text.eq_ignore_ascii_case("all"));
    let is_v6_bracket =
        text.starts_with('[') && text.ends_with(']') && text[1..text.len() - 1].parse::<Ipv6Addr>().is_ok();
    (numeric && looks && !is_v6_bracket).then(|| {
        Note::error(
            0,
            text.len(),
            format!("template placeholder `{text}` where {} needs a value", param.name),
            "replace the placeholder with the real number or address before loading the policy",
        )
    })
}

/// A name: 1–32 printable non-blank ASCII characters except `{ } # ; "`.
pub fn bad_name(text: &str) -> Option<Note> {
    if text.is_empty() {
        return Some(Note::error(0, 0, "empty name".into(), "names have 1 to 32 characters"));
    }
    if let Some((i, c)) = text.char_indices().find(|&(_, c)| !c.is_ascii_graphic() || "{}#;\"".contains(c)) {
        return Some(Note::error(
            i,
            i + c.len_utf8(),
            format!("`{c}` is not allowed in a name"),
            "names use printable ASCII without blanks or { } # ; \" (generated names use ~ - . _)",
        ));
    }
    if text.len() > 32 {
        return Some(Note::error(
            32,
            text.len(),
            format!("name `{text}` is {} characters long; the limit is 32", text.len()),
            "shorten the name to 32 characters",
        ));
    }
    None
}

fn dec_u32(input: &str) -> IResult<&str, u32> {
    map_res(digit1, str::parse::<u32>).parse(input)
}

fn ip_token(input: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_hexdigit() || c == '.' || c == ':').parse(input)
}

/// One IP address (D2: no IPv4-mapped, no `::/96`; D31: a bare 32-bit integer is IPv4).
fn address(text: &str, at: usize, notes: &mut Notes) -> Option<IpAddr> {
    if let Ok((_, n)) = all_consuming(dec_u32).parse(text)
        && !text.contains('.')
    {
        let ip = Ipv4Addr::from(n);
        notes.push(Note::quirk(
            at,
            at + text.len(),
            format!("bare number `{text}` read as the IPv4 address {ip}"),
            "write the address in dotted form",
            "bare-number-address",
        ));
        return Some(IpAddr::V4(ip));
    }
    let parsed = all_consuming(ip_token).parse(text).ok().and_then(|(_, t)| t.parse::<IpAddr>().ok());
    let Some(ip) = parsed else {
        notes.push(Note::error(
            at,
            at + text.len(),
            format!("`{text}` is not an IP address"),
            "write an IPv4 address like 192.0.2.7 or an IPv6 address like 2001:db8::7",
        ));
        return None;
    };
    if let IpAddr::V6(v6) = ip {
        let seg = v6.segments();
        let unspecified_or_loopback = v6.is_unspecified() || v6.is_loopback();
        if seg[..5] == [0; 5] && (seg[5] == 0xffff || seg[5] == 0) && !unspecified_or_loopback {
            let what = if seg[5] == 0xffff { "an IPv4-mapped address" } else { "an address in ::/96" };
            notes.push(Note::error(
                at,
                at + text.len(),
                format!("`{text}` is {what}, which a policy may not contain"),
                "write the IPv4 address itself (connections from ::ffff:a.b.c.d match IPv4 rules)",
            ));
            return None;
        }
    }
    Some(ip)
}

fn prefix(text: &str, notes: &mut Notes) -> Option<AddrMatch> {
    let Some((addr, len)) = text.split_once('/') else {
        notes.push(Note::error(
            0,
            text.len(),
            format!("`{text}` is not a prefix"),
            "write address/length, e.g. 10.1.0.0/16",
        ));
        return None;
    };
    let ip = address(addr, 0, notes)?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let at = addr.len() + 1;
    let len = match len.parse::<u8>() {
        Ok(n) if n <= max => n,
        _ => {
            notes.push(Note::error(
                at,
                text.len(),
                format!("prefix length `{len}` is out of range 0-{max}"),
                "IPv4 prefixes are 0-32 bits, IPv6 prefixes 0-128",
            ));
            return None;
        }
    };
    let net = IpNet::new(ip, len).expect("length checked");
    if net.trunc() != net {
        notes.push(Note::warning(
            0,
            text.len(),
            format!("prefix {text} has host bits set; it matches {}", net.trunc()),
            format!("write {}", net.trunc()),
        ));
    }
    Some(AddrMatch::Net(net.trunc()))
}

fn range(text: &str, notes: &mut Notes) -> Option<AddrMatch> {
    let parsed: IResult<&str, (&str, &str)> =
        all_consuming(separated_pair(ip_token, char('-'), ip_token)).parse(text);
    let Ok((_, (lo_t, hi_t))) = parsed else {
        notes.push(Note::error(
            0,
            text.len(),
            format!("`{text}` is not an address range"),
            "write low-high, e.g. 10.1.1.1-10.1.1.9",
        ));
        return None;
    };
    let lo = address(lo_t, 0, notes)?;
    let hi = address(hi_t, lo_t.len() + 1, notes)?;
    if lo.is_ipv4() != hi.is_ipv4() {
        notes.push(Note::error(
            0,
            text.len(),
            format!("range {text} mixes IPv4 and IPv6"),
            "both ends of a range must be of one family",
        ));
        return None;
    }
    if lo > hi {
        notes.push(Note::error(
            0,
            text.len(),
            format!("range {text} runs backwards"),
            format!("write {hi_t}-{lo_t}"),
        ));
        return None;
    }
    Some(AddrMatch::Range(lo, hi))
}

fn addr_spec(text: &str, notes: &mut Notes) -> Option<AddrMatch> {
    if text.eq_ignore_ascii_case("all") {
        Some(AddrMatch::All)
    } else if text.contains('/') {
        prefix(text, notes)
    } else if text.contains('-') {
        range(text, notes)
    } else {
        address(text, 0, notes).map(|ip| AddrMatch::Net(IpNet::from(ip)))
    }
}

fn port_num(input: &str) -> IResult<&str, &str> {
    digit1(input)
}

/// `n` or `n-m`, each 0–65535, n ≤ m.
pub fn ports(text: &str, notes: &mut Notes) -> Option<PortSpan> {
    let hint = "write one port (0-65535) or a range n-m";
    let parsed: IResult<&str, (&str, Option<&str>)> =
        all_consuming((port_num, opt(preceded(tag("-"), port_num)))).parse(text);
    let Ok((_, (lo_t, hi_t))) = parsed else {
        notes.push(Note::error(0, text.len(), format!("`{text}` is not a port or port range"), hint));
        return None;
    };
    let check = |t: &str, at: usize, notes: &mut Notes| match t.parse::<u32>() {
        Ok(n) if n <= 65535 => Some(n as u16),
        _ => {
            notes.push(Note::error(at, at + t.len(), format!("port {t} is out of range 0-65535"), hint));
            None
        }
    };
    let lo = check(lo_t, 0, notes);
    let hi = match hi_t {
        Some(h) => check(h, lo_t.len() + 1, notes),
        None => lo,
    };
    let (lo, hi) = (lo?, hi?);
    if lo > hi {
        notes.push(Note::error(
            0,
            text.len(),
            format!("port range {text} runs backwards"),
            format!("write {hi}-{lo}"),
        ));
        return None;
    }
    Some(PortSpan { lo, hi })
}

fn jobname(param: &str, text: &str, notes: &mut Notes) -> Option<String> {
    if let Some(i) = text.find('*')
        && i != text.len() - 1
    {
        notes.push(Note::error(
            i,
            i + 1,
            format!("`*` may only end a {param}: `{text}`"),
            "write an exact name, a prefix ending in `*`, or `*` alone",
        ));
        return None;
    }
    if let Some(n) = bad_name(text) {
        notes.push(n);
        return None;
    }
    if text.trim_end_matches('*').len() > 8 {
        notes.push(Note::quirk(
            0,
            text.len(),
            format!("{param} `{text}` is longer than the 8 characters z/OS allows"),
            "attls accepts up to 32; shorten it if the file must also load on z/OS",
            if param == "Jobname" { "long-jobname" } else { "long-userid" },
        ));
    }
    Some(text.to_string())
}

fn is_hex(text: &str, chunk: usize) -> bool {
    !text.is_empty() && text.len() % chunk == 0 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex_chunks(text: &str, chunk: usize) -> impl Iterator<Item = (usize, u16)> + '_ {
    (0..text.len())
        .step_by(chunk)
        .map(move |i| (i, u16::from_str_radix(&text[i..i + chunk], 16).expect("checked hex")))
}

fn cipher_string(text: &str, width: usize, notes: &mut Notes) -> Option<Vec<u16>> {
    let keyword = if width == 2 { "V3CipherSuites" } else { "V3CipherSuites4Char" };
    if is_hex(text, width) {
        let mut codes = Vec::new();
        for (i, code) in hex_chunks(text, width) {
            if ciphers::name_of(code).is_some() {
                codes.push(code);
                continue;
            }
            let (msg, hint) = if width == 2 && matches!(code, 0x13 | 0xC0..=0xCC) {
                (
                    format!("unknown cipher suite code {:02X}: {keyword} reads 2-character codes", code),
                    "for 4-character codes such as C02F use V3CipherSuites4Char".to_string(),
                )
            } else {
                (
                    format!("unknown cipher suite code {}", &text[i..i + width]),
                    "it is left out; see docs/policy-reference.md#cipher-suites for the codes attls \
                     knows"
                        .to_string(),
                )
            };
            notes.push(Note::warning(i, i + width, msg, hint));
        }
        return Some(codes);
    }
    if let Some(code) = ciphers::code_of_name(text) {
        if width == 4 {
            notes.push(Note::quirk(
                0,
                text.len(),
                format!(
                    "cipher suite name `{text}` in V3CipherSuites4Char translated to {}",
                    ciphers::hex4(code)
                ),
                format!("write the 4-character code {}", ciphers::hex4(code)),
                "cipher-name-in-4char",
            ));
        }
        return Some(vec![code]);
    }
    let hint = match nearest(text, ciphers::known_names()) {
        Some(n) => format!("did you mean {n}?"),
        None if width == 2 => "write 2-character hex codes (e.g. 352F) or one cipher suite name".into(),
        None => "write 4-character hex codes (e.g. C02F1302) or one cipher suite name".into(),
    };
    notes.push(Note::error(0, text.len(), format!("unknown cipher suite `{text}`"), hint));
    None
}

/// Key-share groups and curves z/OS knows, by 4-digit decimal number.
pub const KNOWN_GROUPS: &[(u16, &str)] = &[
    (19, "secp192r1"),
    (21, "secp224r1"),
    (23, "secp256r1"),
    (24, "secp384r1"),
    (25, "secp521r1"),
    (29, "x25519"),
    (30, "x448"),
];

fn groups(param: &str, text: &str, notes: &mut Notes) -> Option<Option<Vec<u16>>> {
    if text.eq_ignore_ascii_case("any") {
        return Some(None);
    }
    if text.is_empty() || all_consuming(many1(four_digits)).parse(text).is_err() {
        notes.push(Note::error(
            0,
            text.len(),
            format!("{param} needs `Any` or 4-digit group numbers, not `{text}`"),
            "write e.g. 00290023 (x25519, secp256r1)",
        ));
        return None;
    }
    let mut out = Vec::new();
    for i in (0..text.len()).step_by(4) {
        let n: u16 = text[i..i + 4].parse().expect("digits");
        if KNOWN_GROUPS.iter().any(|&(g, _)| g == n) {
            out.push(n);
        } else {
            notes.push(Note::warning(
                i,
                i + 4,
                format!("unknown group {}", &text[i..i + 4]),
                "it is left out; known: 0019 0021 0023 0024 0025 0029 0030",
            ));
        }
    }
    Some(Some(out))
}

fn four_digits(input: &str) -> IResult<&str, &str> {
    take_while_m_n(4, 4, |c: char| c.is_ascii_digit()).parse(input)
}

fn hex_pairs(param: &str, text: &str, notes: &mut Notes) -> Option<Vec<u16>> {
    if !is_hex(text, 4) {
        notes.push(Note::error(
            0,
            text.len(),
            format!("{param} needs 4-hex-digit pairs, not `{text}`"),
            "write e.g. 0804060305030403",
        ));
        return None;
    }
    Some(hex_chunks(text, 4).map(|(_, c)| c).collect())
}

#[cfg(test)]
mod tests;
