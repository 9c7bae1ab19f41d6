//! Statements as written: each statement, parameter and value with the span it came from. Values are
//! already typed (a port is a number, an address an `ipnet` network) so that later stages never parse
//! text again.

use std::net::IpAddr;

use ipnet::IpNet;

use super::catalog::{Kind, Param};
use super::source::Span;

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// One statement: top-level (always named) or an inline block inside another (name optional, D17).
#[derive(Debug, Clone)]
pub struct Statement {
    pub kind: Kind,
    pub keyword_span: Span,
    pub name: Option<Spanned<String>>,
    pub items: Vec<Item>,
    /// An error was reported inside this statement: later stages fail it quietly instead of
    /// reporting what is missing as a consequence.
    pub broken: bool,
}

impl Statement {
    pub fn params(&self) -> impl Iterator<Item = &ParamItem> {
        self.items.iter().filter_map(|i| match i {
            Item::Param(p) => Some(p),
            Item::Block(_) => None,
        })
    }
    pub fn blocks(&self) -> impl Iterator<Item = &Statement> {
        self.items.iter().filter_map(|i| match i {
            Item::Block(b) => Some(b),
            Item::Param(_) => None,
        })
    }
    /// The parameter written under this name (canonical spelling), if any.
    pub fn param(&self, name: &str) -> Option<&ParamItem> {
        self.params().find(|p| p.def.name == name)
    }
    pub fn display_name(&self) -> &str {
        self.name.as_ref().map_or("(inline)", |n| n.value.as_str())
    }
    /// Where to point at the statement: its name, else its keyword.
    pub fn span(&self) -> Span {
        self.name.as_ref().map_or(self.keyword_span, |n| n.span)
    }
}

#[derive(Debug, Clone)]
pub enum Item {
    Param(ParamItem),
    Block(Statement),
}

/// One `Keyword value` line.
#[derive(Debug, Clone)]
pub struct ParamItem {
    pub def: &'static Param,
    pub key_span: Span,
    pub value: Value,
    pub value_span: Span,
    /// The value as written (quotes removed), for reports.
    pub raw: String,
}

/// A typed parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    OnOff(bool),
    Int(u64),
    /// The canonical spelling of an enumerated word.
    Enum(&'static str),
    Text(String),
    Ref(String),
    Addr(AddrMatch),
    Ports(PortSpan),
    Jobname(String),
    /// Cipher suite codes, in order, unknown ones already dropped.
    Ciphers(Vec<u16>),
    /// Named groups; `None` is `Any`.
    Groups(Option<Vec<u16>>),
    HexPairs(Vec<u16>),
    /// Written, but the value was an error (already reported): it fills its slot so that later stages
    /// do not report it again as missing.
    Invalid,
}

/// An address condition: all addresses, a network (a single address is a /32 or /128), or a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrMatch {
    All,
    Net(IpNet),
    Range(IpAddr, IpAddr),
}

impl AddrMatch {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match *self {
            AddrMatch::All => true,
            AddrMatch::Net(net) => net.contains(&ip),
            AddrMatch::Range(lo, hi) => match (lo, hi, ip) {
                (IpAddr::V4(lo), IpAddr::V4(hi), IpAddr::V4(ip)) => lo <= ip && ip <= hi,
                (IpAddr::V6(lo), IpAddr::V6(hi), IpAddr::V6(ip)) => lo <= ip && ip <= hi,
                _ => false,
            },
        }
    }
}

impl std::fmt::Display for AddrMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AddrMatch::All => f.write_str("All"),
            AddrMatch::Net(net) if net.prefix_len() == net.max_prefix_len() => write!(f, "{}", net.addr()),
            AddrMatch::Net(net) => write!(f, "{net}"),
            AddrMatch::Range(lo, hi) => write!(f, "{lo}-{hi}"),
        }
    }
}

/// An inclusive port range; `0` alone means any port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortSpan {
    pub lo: u16,
    pub hi: u16,
}

impl PortSpan {
    pub const ANY: PortSpan = PortSpan { lo: 0, hi: 65535 };
    pub fn is_any(&self) -> bool {
        self.lo == 0 && (self.hi == 0 || self.hi == 65535)
    }
    pub fn contains(&self, port: u16) -> bool {
        self.is_any() || (self.lo <= port && port <= self.hi)
    }
}

impl std::fmt::Display for PortSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lo == self.hi { write!(f, "{}", self.lo) } else { write!(f, "{}-{}", self.lo, self.hi) }
    }
}
