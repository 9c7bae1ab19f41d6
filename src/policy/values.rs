//! Leaf value parsers (nom): numbers, ports, addresses, prefixes, ranges, job names, cipher and group
//! strings. Each turns one written value into a typed [`Value`], or notes what is wrong with it and
//! where inside the value; the caller turns notes into diagnostics.
//!
//! This file dispatches on the parameter's [`ValueType`] and holds the template-placeholder check;
//! the parsers live by family: [`scalars`] (On/Off, numbers, enumerations), [`names`],
//! [`addresses`], [`ports`] and [`tls_codes`] (ciphers, groups, hex pairs).

mod addresses;
mod names;
mod note;
mod ports;
mod scalars;
mod tls_codes;

use std::net::Ipv6Addr;

use ipnet::IpNet;

use super::ast::{AddrMatch, Value};
use super::catalog::{Param, ValueType};

pub use names::bad_name;
pub use note::{Note, Notes};
pub use ports::ports;
pub use tls_codes::KNOWN_GROUPS;

/// Parses the value of `param` as written (`text`, quotes already removed).
pub fn parse_value(param: &Param, text: &str, notes: &mut Notes) -> Option<Value> {
    if let Some(n) = placeholder(param, text) {
        notes.push(n);
        return None;
    }
    match param.ty {
        ValueType::OnOff => scalars::on_off(param, text, notes).map(Value::OnOff),
        ValueType::Int(min, max) => scalars::int(param, text, min, max, notes).map(Value::Int),
        ValueType::Enum(words) => scalars::enumeration(param, text, words, notes).map(Value::Enum),
        ValueType::Text | ValueType::Token => Some(Value::Text(text.to_string())),
        ValueType::Ref(kind) => {
            if let Some(n) = bad_name(text) {
                notes.push(n);
                return None;
            }
            let _ = kind;
            Some(Value::Ref(text.to_string()))
        }
        ValueType::AddrSpec => addresses::addr_spec(text, notes).map(Value::Addr),
        ValueType::Addr => {
            let ip = addresses::address(text, 0, notes)?;
            Some(Value::Addr(AddrMatch::Net(IpNet::from(ip))))
        }
        ValueType::Prefix => addresses::prefix(text, notes).map(Value::Addr),
        ValueType::Range => addresses::range(text, notes).map(Value::Addr),
        ValueType::Ports => ports(text, notes).map(Value::Ports),
        ValueType::Jobname => names::jobname(param.name, text, notes).map(Value::Jobname),
        ValueType::Cipher2 => tls_codes::cipher_string(text, 2, notes).map(Value::Ciphers),
        ValueType::Cipher4 => tls_codes::cipher_string(text, 4, notes).map(Value::Ciphers),
        ValueType::Groups => tls_codes::groups(param.name, text, notes).map(Value::Groups),
        ValueType::HexPairs => tls_codes::hex_pairs(param.name, text, notes).map(Value::HexPairs),
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

#[cfg(test)]
mod tests;
