//! FTP data-address syntax, without I/O
//! (docs/policy-reference.md#data-addresses-pasv-epsv-port-eprt): the `227` and `229` passive
//! replies (RFC 959, RFC 2428) and the `PORT` and `EPRT` arguments. Every parser rejects port 0 and
//! numbers out of range; none panics on any input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

use super::reply::Reply;

/// Where the backend listens for a data connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendData {
    /// From a `227` reply.
    Addr(SocketAddrV4),
    /// From a `229` reply: the backend control connection's peer IP, this port.
    Port(u16),
}

impl BackendData {
    /// The data address in a backend's `227` or `229` reply; `None` for other codes or no address.
    pub fn from_reply(reply: &Reply) -> Option<Self> {
        match reply.code {
            227 => parse_227(&reply.text).map(Self::Addr),
            229 => parse_229(&reply.text).map(Self::Port),
            _ => None,
        }
    }
}

/// The address from a `227` reply: the first `h1,h2,h3,h4,p1,p2` anywhere in the text, with or
/// without parentheses (as clients read it; servers vary in the wording around it).
pub fn parse_227(text: &str) -> Option<SocketAddrV4> {
    let bytes = text.as_bytes();
    let is_part = |b: &u8| b.is_ascii_digit() || *b == b',';
    (0..bytes.len())
        .filter(|&i| {
            bytes.get(i).is_some_and(u8::is_ascii_digit) && (i == 0 || !bytes.get(i - 1).is_some_and(is_part))
        })
        .find_map(|i| six_numbers(text.get(i..)?).filter(|(_, rest)| !rest.first().is_some_and(is_part)))
        .map(|(addr, _)| addr)
}

/// Formats attls's own `227` reply.
pub fn format_227(addr: SocketAddrV4) -> String {
    format!("227 Entering Passive Mode ({}).\r\n", format_port(addr))
}

/// The port from a `229` reply: `(|||port|)`, `|` being any character from 33 to 126 but a digit
/// (RFC 2428 §3), parentheses optional.
pub fn parse_229(text: &str) -> Option<u16> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|i| {
        let rest = bytes.get(i..)?;
        let (&[d, d2, d3], rest) = rest.split_first_chunk::<3>()?;
        if !is_delimiter(d) || d2 != d || d3 != d {
            return None;
        }
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if rest.get(digits) != Some(&d) {
            return None;
        }
        port(std::str::from_utf8(rest.get(..digits)?).ok()?)
    })
}

/// Formats attls's own `229` reply.
pub fn format_229(port: u16) -> String {
    format!("229 Entering Extended Passive Mode (|||{port}|)\r\n")
}

/// The address of a `PORT h1,h2,h3,h4,p1,p2` argument (surrounding blanks allowed).
pub fn parse_port(arg: &str) -> Option<SocketAddrV4> {
    match six_numbers(arg.trim())? {
        (addr, []) => Some(addr),
        _ => None,
    }
}

/// Formats a `PORT` argument: `h1,h2,h3,h4,p1,p2`.
pub fn format_port(addr: SocketAddrV4) -> String {
    let [h1, h2, h3, h4] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("{h1},{h2},{h3},{h4},{p1},{p2}")
}

/// The address of an `EPRT |1|a.b.c.d|port|` or `|2|ipv6|port|` argument, `|` being any character
/// from 33 to 126 but a digit (RFC 2428 §2).
pub fn parse_eprt(arg: &str) -> Option<SocketAddr> {
    let arg = arg.trim();
    let d = arg.chars().next().filter(|&c| c.is_ascii() && is_delimiter(c as u8))?;
    let mut fields = arg.split(d);
    let (Some(""), Some(proto), Some(host), Some(port_text), Some(""), None) =
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return None;
    };
    let ip = match proto {
        "1" => IpAddr::V4(host.parse::<Ipv4Addr>().ok()?),
        "2" => IpAddr::V6(host.parse::<Ipv6Addr>().ok()?),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port(port_text)?))
}

/// An address as attls compares and prints it: IPv4-mapped IPv6 as IPv4 (D2).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// RFC 2428 delimiters: printable ASCII (33–126); digits excluded, as they would be ambiguous.
fn is_delimiter(b: u8) -> bool {
    (33..=126).contains(&b) && !b.is_ascii_digit()
}

/// `h1,h2,h3,h4,p1,p2` at the start of `text`, each 0–255 with 1–3 digits, and the bytes after it.
fn six_numbers(text: &str) -> Option<(SocketAddrV4, &[u8])> {
    let mut n = [0u8; 6];
    let mut rest = text.as_bytes();
    for (i, slot) in n.iter_mut().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix(b",")?;
        }
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if !(1..=3).contains(&digits) {
            return None;
        }
        let (num, tail) = rest.split_at(digits);
        *slot = std::str::from_utf8(num).ok()?.parse().ok()?;
        rest = tail;
    }
    let [h1, h2, h3, h4, p1, p2] = n;
    let port = u16::from_be_bytes([p1, p2]);
    (port != 0).then(|| (SocketAddrV4::new(Ipv4Addr::new(h1, h2, h3, h4), port), rest))
}

/// A port number, 1–65535, decimal digits only.
fn port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&p| p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(s: &str) -> SocketAddrV4 {
        s.parse().expect("test address")
    }

    #[test]
    fn passive_227() {
        let want = Some(v4("192.168.1.20:1025"));
        assert_eq!(parse_227("227 Entering Passive Mode (192,168,1,20,4,1).\r\n"), want);
        assert_eq!(parse_227("227 Entering Passive Mode 192,168,1,20,4,1\r\n"), want);
        assert_eq!(parse_227("227 =192,168,1,20,4,1"), want);
        assert_eq!(parse_227("227 Entering Passive Mode (192,168,1,20,0,0)."), None);
        assert_eq!(parse_227("227 Entering Passive Mode (192,168,1,256,4,1)."), None);
        assert_eq!(parse_227("227 Entering Passive Mode (192,168,1,20,4)."), None);
        assert_eq!(parse_227("227 (1,2,3,4,5,6,7)"), None);
        assert_eq!(parse_227("227 (0001,2,3,4,5,6)"), None);
        assert_eq!(format_227(v4("10.0.0.1:65535")), "227 Entering Passive Mode (10,0,0,1,255,255).\r\n");
    }

    #[test]
    fn extended_passive_229() {
        assert_eq!(parse_229("229 Entering Extended Passive Mode (|||6446|)\r\n"), Some(6446));
        assert_eq!(parse_229("229 Entering Extended Passive Mode (!!!6446!)"), Some(6446));
        assert_eq!(parse_229("229 ok |||1|"), Some(1));
        assert_eq!(parse_229("229 (|||0|)"), None);
        assert_eq!(parse_229("229 (|||65536|)"), None);
        assert_eq!(parse_229("229 (|||+5|)"), None);
        assert_eq!(parse_229("229 (||6446|)"), None);
        assert_eq!(parse_229("229 (|||6446!)"), None);
        assert_eq!(format_229(6446), "229 Entering Extended Passive Mode (|||6446|)\r\n");
    }

    #[test]
    fn port_argument() {
        assert_eq!(parse_port("127,0,0,1,156,65"), Some(v4("127.0.0.1:40001")));
        assert_eq!(parse_port(" 127,0,0,1,156,65 "), Some(v4("127.0.0.1:40001")));
        assert_eq!(parse_port("127,0,0,1,0,0"), None);
        assert_eq!(parse_port("127,0,0,1,156,65,1"), None);
        assert_eq!(parse_port("127,0,0,1,156,65x"), None);
        assert_eq!(parse_port("127,0,0,1,156"), None);
        assert_eq!(parse_port("127,0,0,1,156,300"), None);
        assert_eq!(parse_port(""), None);
        assert_eq!(format_port(v4("127.0.0.1:40001")), "127,0,0,1,156,65");
    }

    #[test]
    fn eprt_argument() {
        let a = |s: &str| Some(s.parse::<SocketAddr>().expect("test address"));
        assert_eq!(parse_eprt("|1|132.235.1.2|6275|"), a("132.235.1.2:6275"));
        assert_eq!(parse_eprt("|2|1080::8:800:200C:417A|5282|"), a("[1080::8:800:200c:417a]:5282"));
        assert_eq!(parse_eprt("!2!::1!40001!"), a("[::1]:40001"));
        assert_eq!(parse_eprt("|1|::1|40001|"), None);
        assert_eq!(parse_eprt("|2|1.2.3.4|40001|"), None);
        assert_eq!(parse_eprt("|3|1.2.3.4|40001|"), None);
        assert_eq!(parse_eprt("|1|1.2.3.4|0|"), None);
        assert_eq!(parse_eprt("|1|1.2.3.4|65536|"), None);
        assert_eq!(parse_eprt("|1|1.2.3.4|80|x"), None);
        assert_eq!(parse_eprt("1|1.2.3.4|80|"), None);
        assert_eq!(parse_eprt(""), None);
    }

    #[test]
    fn backend_data_from_replies() {
        let r = |code, text: &str| Reply { code, text: text.into() };
        let want = BackendData::Addr(v4("10.0.0.2:1025"));
        assert_eq!(BackendData::from_reply(&r(227, "227 Entering (10,0,0,2,4,1)\r\n")), Some(want));
        assert_eq!(
            BackendData::from_reply(&r(229, "229 EPSV (|||21000|)\r\n")),
            Some(BackendData::Port(21000))
        );
        assert_eq!(BackendData::from_reply(&r(200, "200 (|||21000|)\r\n")), None);
        assert_eq!(BackendData::from_reply(&r(227, "227 no address\r\n")), None);
    }

    #[test]
    fn canonical_addresses() {
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().expect("test address");
        assert_eq!(canonical(mapped), "10.1.2.3".parse::<IpAddr>().expect("test address"));
        let v6: IpAddr = "::1".parse().expect("test address");
        assert_eq!(canonical(v6), v6);
    }

    proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,64}", bytes in "[0-9,|()! ]{0,40}") {
            for t in [&text, &bytes] {
                let _ = (parse_227(t), parse_229(t), parse_port(t), parse_eprt(t));
            }
        }

        #[test]
        fn port_round_trips(a in any::<[u8; 4]>(), port in 1u16..) {
            let addr = SocketAddrV4::new(Ipv4Addr::from(a), port);
            prop_assert_eq!(parse_port(&format_port(addr)), Some(addr));
            prop_assert_eq!(parse_227(&format_227(addr)), Some(addr));
            prop_assert_eq!(parse_229(&format_229(port)), Some(port));
        }
    }
}
