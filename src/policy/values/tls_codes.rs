//! TLS code lists: cipher suite strings (2- or 4-character hex codes, or one suite name), key-share
//! group numbers, and signature-algorithm hex pairs.

use nom::{IResult, Parser, bytes::complete::take_while_m_n, combinator::all_consuming, multi::many1};

use super::super::ciphers;
use super::super::diag::nearest;
use super::note::{Note, Notes};

fn is_hex(text: &str, chunk: usize) -> bool {
    !text.is_empty() && text.len() % chunk == 0 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex_chunks(text: &str, chunk: usize) -> impl Iterator<Item = (usize, u16)> + '_ {
    (0..text.len())
        .step_by(chunk)
        .map(move |i| (i, u16::from_str_radix(&text[i..i + chunk], 16).expect("checked hex")))
}

pub(super) fn cipher_string(text: &str, width: usize, notes: &mut Notes) -> Option<Vec<u16>> {
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

pub(super) fn groups(param: &str, text: &str, notes: &mut Notes) -> Option<Option<Vec<u16>>> {
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

pub(super) fn hex_pairs(param: &str, text: &str, notes: &mut Notes) -> Option<Vec<u16>> {
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
