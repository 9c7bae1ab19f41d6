//! IP addresses (D2: no IPv4-mapped, no `::/96`; D31: a bare 32-bit integer is IPv4), prefixes,
//! address ranges, and the `All | address | prefix | range` of a rule's address conditions.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use nom::{
    IResult, Parser,
    bytes::complete::take_while1,
    character::complete::{char, digit1},
    combinator::{all_consuming, map_res},
    sequence::separated_pair,
};

use super::super::ast::AddrMatch;
use super::note::{Note, Notes};

fn dec_u32(input: &str) -> IResult<&str, u32> {
    map_res(digit1, str::parse::<u32>).parse(input)
}

fn ip_token(input: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_hexdigit() || c == '.' || c == ':').parse(input)
}

/// One IP address (D2: no IPv4-mapped, no `::/96`; D31: a bare 32-bit integer is IPv4).
pub(super) fn address(text: &str, at: usize, notes: &mut Notes) -> Option<IpAddr> {
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

pub(super) fn prefix(text: &str, notes: &mut Notes) -> Option<AddrMatch> {
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

pub(super) fn range(text: &str, notes: &mut Notes) -> Option<AddrMatch> {
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

pub(super) fn addr_spec(text: &str, notes: &mut Notes) -> Option<AddrMatch> {
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
