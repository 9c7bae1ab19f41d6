//! The names of a client certificate that map lines are compared with: its subject DN, as RFC 4514
//! text (for logs) and as [`Token`]s (for matching), and its DNS and e-mail subjectAltNames.
//!
//! The DN is rendered as RFC 4514 section 2 says: the RDNs from the last one in the certificate to
//! the first (most specific first), joined by `,`; the attributes of a multi-valued RDN in their
//! encoded order, joined by `+`; each `TYPE=VALUE` with the short names of [`ATTRIBUTE_NAMES`]
//! (other types as the dotted OID); string values decoded (UTF8String, PrintableString, IA5String,
//! NumericString, VisibleString, TeletexString as Latin-1, BMPString, UniversalString) and escaped
//! (`\` before `"` `+` `,` `;` `<` `>` `\`, a leading `#` or space, a trailing space; control
//! characters as `\XX`), other values as `#` and the hex of their DER. No spaces are added.

use std::fmt::Write as _;

use x509_parser::der_parser::asn1_rs::{Any, Tag};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

/// The attribute types written by name: RFC 4514's table, then `emailAddress` and `serialNumber`
/// as OpenSSL writes them. Any other type is written as its dotted OID.
pub const ATTRIBUTE_NAMES: [(&str, &str); 11] = [
    ("2.5.4.3", "CN"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.6", "C"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
    ("2.5.4.5", "serialNumber"),
];

/// A certificate with a longer subject (rendered, in characters) gets no user.
pub const MAX_SUBJECT_CHARS: usize = 4096;
/// A certificate with more DNS or more e-mail subjectAltNames than this gets no user.
pub const MAX_SAN_NAMES: usize = 64;
/// A certificate with a longer DNS or e-mail subjectAltName gets no user.
pub const MAX_SAN_CHARS: usize = 1024;

/// One unit of a DN for matching: a character of a type or value, or the structure between them.
/// A `,` in a value is `Char(',')`, never `RdnSeparator`: escaping does not matter once decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Token {
    Char(char),
    /// `=` between an attribute type and its value.
    Equals,
    /// `,` between RDNs.
    RdnSeparator,
    /// `+` between the attributes of one RDN.
    AttributeSeparator,
    /// The `#` that starts the hex form of a value that is no string (its digits follow, lowercase).
    Hex,
}

/// What a certificate is matched by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertNames {
    /// The subject DN as RFC 4514 text, for the log.
    pub subject: String,
    /// The same DN, decoded, for matching.
    pub subject_tokens: Vec<Token>,
    /// DNS subjectAltNames, ASCII-lowercased.
    pub dns: Vec<String>,
    /// E-mail (rfc822Name) subjectAltNames, the domain (after the last `@`) ASCII-lowercased.
    pub email: Vec<String>,
}

impl CertNames {
    /// The names of a DER certificate; `Err` says why it gets none (unreadable, or beyond a limit).
    pub fn of(der: &[u8]) -> Result<CertNames, String> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| format!("unreadable certificate: {e}"))?;
        let (subject, subject_tokens) = subject(cert.subject());
        if subject.chars().count() > MAX_SUBJECT_CHARS {
            return Err(format!("its subject is longer than {MAX_SUBJECT_CHARS} characters"));
        }
        let (mut dns, mut email) = (Vec::new(), Vec::new());
        let sans = cert.subject_alternative_name().map_err(|e| format!("unreadable subjectAltName: {e}"))?;
        for name in sans.iter().flat_map(|ext| ext.value.general_names.iter()) {
            match name {
                GeneralName::DNSName(d) => dns.push(d.to_ascii_lowercase()),
                GeneralName::RFC822Name(e) => email.push(email_folded(e)),
                _ => {}
            }
        }
        if dns.len() > MAX_SAN_NAMES || email.len() > MAX_SAN_NAMES {
            return Err(format!("it has more than {MAX_SAN_NAMES} DNS or e-mail subjectAltNames"));
        }
        if dns.iter().chain(&email).any(|n| n.chars().count() > MAX_SAN_CHARS) {
            return Err(format!("a subjectAltName is longer than {MAX_SAN_CHARS} characters"));
        }
        Ok(CertNames { subject, subject_tokens, dns, email })
    }

    /// `subject "…"`, then the SANs (control characters as `\XX`): what a log line shows of an
    /// unmapped certificate.
    pub fn describe(&self) -> String {
        let mut out = format!("subject \"{}\"", self.subject);
        for d in &self.dns {
            let _ = write!(out, ", san:dns:{}", printable(d));
        }
        for e in &self.email {
            let _ = write!(out, ", san:email:{}", printable(e));
        }
        out
    }
}

/// `name` with each control character written `\XX` (per UTF-8 byte), for a log line.
fn printable(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "\\{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// An e-mail address with its domain (after the last `@`) ASCII-lowercased: domains are
/// case-insensitive, local parts are not.
pub fn email_folded(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => address.to_string(),
    }
}

/// The canonical name of an attribute type written by name (any case) or as a dotted OID;
/// `None` when it is neither.
pub fn canonical_type(written: &str) -> Option<String> {
    if let Some((_, name)) = ATTRIBUTE_NAMES.iter().find(|(_, n)| n.eq_ignore_ascii_case(written)) {
        return Some(name.to_string());
    }
    let is_oid = !written.is_empty()
        && written.split('.').count() >= 2
        && written.split('.').all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
    is_oid.then(|| type_name(written))
}

/// The name a dotted OID is written with.
fn type_name(oid: &str) -> String {
    ATTRIBUTE_NAMES.iter().find(|(o, _)| *o == oid).map_or_else(|| oid.to_string(), |(_, n)| n.to_string())
}

/// The subject as RFC 4514 text and as tokens.
fn subject(name: &X509Name<'_>) -> (String, Vec<Token>) {
    let (mut text, mut tokens) = (String::new(), Vec::new());
    let rdns: Vec<_> = name.iter().collect();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            text.push(',');
            tokens.push(Token::RdnSeparator);
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                text.push('+');
                tokens.push(Token::AttributeSeparator);
            }
            let ty = type_name(&atv.attr_type().to_id_string());
            let value = value(atv.attr_value());
            let _ = write!(text, "{ty}=");
            tokens.extend(ty.chars().map(Token::Char));
            tokens.push(Token::Equals);
            match value {
                Value::Text(v) => {
                    text.push_str(&escape(&v));
                    tokens.extend(v.chars().map(Token::Char));
                }
                Value::Hex(digits) => {
                    let _ = write!(text, "#{digits}");
                    tokens.push(Token::Hex);
                    tokens.extend(digits.chars().map(Token::Char));
                }
            }
        }
    }
    (text, tokens)
}

/// An attribute value: decoded text, or the hex digits of its DER (written after a `#`).
enum Value {
    Text(String),
    Hex(String),
}

fn value(v: &Any<'_>) -> Value {
    let data = v.data;
    let text = if !v.header.is_universal() {
        None
    } else {
        match v.tag() {
            Tag::Utf8String
            | Tag::PrintableString
            | Tag::Ia5String
            | Tag::NumericString
            | Tag::VisibleString => std::str::from_utf8(data).ok().map(String::from),
            Tag::T61String => Some(data.iter().map(|&b| char::from(b)).collect()),
            Tag::BmpString if data.len() % 2 == 0 => {
                let units = data.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                char::decode_utf16(units).collect::<Result<String, _>>().ok()
            }
            Tag::UniversalString if data.len() % 4 == 0 => data
                .chunks(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect::<Option<String>>(),
            _ => None,
        }
    };
    match text {
        Some(t) => Value::Text(t),
        None => {
            let mut hex = String::new();
            for b in der_of(v) {
                let _ = write!(hex, "{b:02x}");
            }
            Value::Hex(hex)
        }
    }
}

/// The DER of a value: its tag as read (or rebuilt for a low tag number), length, contents.
fn der_of(v: &Any<'_>) -> Vec<u8> {
    let mut der = match v.header.raw_tag() {
        Some(raw) => raw.to_vec(),
        None => {
            let constructed = if v.header.is_constructed() { 0x20 } else { 0 };
            vec![((v.class() as u8) << 6) | constructed | (v.tag().0 & 0x1f) as u8]
        }
    };
    let len = v.data.len();
    if len < 0x80 {
        der.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        der.push(0x80 | bytes.len() as u8);
        der.extend(bytes);
    }
    der.extend_from_slice(v.data);
    der
}

/// A value escaped as RFC 4514 section 2.4 asks, control characters as `\XX` per UTF-8 byte.
pub fn escape(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if c.is_control() => out.push_str(&printable(&c.to_string())),
            c => out.push(c),
        }
    }
    out
}
