//! The catalog of statements and parameters: which statement may hold which parameters and inline
//! blocks, each parameter's value type, and how attls supports it on Linux (the statuses of
//! docs/policy-reference.md#status-legend).

use std::fmt;

mod pending;
use pending::{FIPS140_SUPPORT, GSK_HTTP_CDP, GSK_LDAP, GSK_OCSP, IP_TIME};

/// A statement type of the policy language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Rule,
    GroupAction,
    EnvironmentAction,
    ConnectionAction,
    KeyringParms,
    CipherParms,
    SignatureParms,
    EnvironmentAdvancedParms,
    ConnectionAdvancedParms,
    GroupAdvancedParms,
    GskAdvancedParms,
    GskLdapParms,
    GskOcspParms,
    GskHttpCdpParms,
    IpAddr,
    IpAddrSet,
    IpAddrGroup,
    PortRange,
    PortGroup,
    IpTimeCondition,
}

pub const ALL_KINDS: [Kind; 20] = [
    Kind::Rule,
    Kind::GroupAction,
    Kind::EnvironmentAction,
    Kind::ConnectionAction,
    Kind::KeyringParms,
    Kind::CipherParms,
    Kind::SignatureParms,
    Kind::EnvironmentAdvancedParms,
    Kind::ConnectionAdvancedParms,
    Kind::GroupAdvancedParms,
    Kind::GskAdvancedParms,
    Kind::GskLdapParms,
    Kind::GskOcspParms,
    Kind::GskHttpCdpParms,
    Kind::IpAddr,
    Kind::IpAddrSet,
    Kind::IpAddrGroup,
    Kind::PortRange,
    Kind::PortGroup,
    Kind::IpTimeCondition,
];

impl Kind {
    /// The statement keyword as IBM spells it.
    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Rule => "TTLSRule",
            Kind::GroupAction => "TTLSGroupAction",
            Kind::EnvironmentAction => "TTLSEnvironmentAction",
            Kind::ConnectionAction => "TTLSConnectionAction",
            Kind::KeyringParms => "TTLSKeyringParms",
            Kind::CipherParms => "TTLSCipherParms",
            Kind::SignatureParms => "TTLSSignatureParms",
            Kind::EnvironmentAdvancedParms => "TTLSEnvironmentAdvancedParms",
            Kind::ConnectionAdvancedParms => "TTLSConnectionAdvancedParms",
            Kind::GroupAdvancedParms => "TTLSGroupAdvancedParms",
            Kind::GskAdvancedParms => "TTLSGskAdvancedParms",
            Kind::GskLdapParms => "TTLSGskLdapParms",
            Kind::GskOcspParms => "TTLSGskOcspParms",
            Kind::GskHttpCdpParms => "TTLSGskHttpCdpParms",
            Kind::IpAddr => "IpAddr",
            Kind::IpAddrSet => "IpAddrSet",
            Kind::IpAddrGroup => "IpAddrGroup",
            Kind::PortRange => "PortRange",
            Kind::PortGroup => "PortGroup",
            Kind::IpTimeCondition => "IpTimeCondition",
        }
    }

    pub fn from_keyword(word: &str) -> Option<Kind> {
        // Every statement keyword starts with T, I or P and is 6 to 28 bytes long: most parameter
        // words are rejected before any comparison.
        let first = word.as_bytes().first()?.to_ascii_lowercase();
        if !matches!(first, b't' | b'i' | b'p') || !(6..=28).contains(&word.len()) {
            return None;
        }
        ALL_KINDS.into_iter().find(|k| k.keyword().eq_ignore_ascii_case(word))
    }

    /// Inline blocks this statement may hold, with the keyword of the `…Ref` that fills the same slot.
    pub fn children(self) -> &'static [(Kind, &'static str)] {
        use Kind::*;
        match self {
            Rule => &[(IpTimeCondition, "IpTimeConditionRef")],
            GroupAction => &[(GroupAdvancedParms, "TTLSGroupAdvancedParmsRef")],
            EnvironmentAction => &[
                (KeyringParms, "TTLSKeyringParmsRef"),
                (CipherParms, "TTLSCipherParmsRef"),
                (SignatureParms, "TTLSSignatureParmsRef"),
                (EnvironmentAdvancedParms, "TTLSEnvironmentAdvancedParmsRef"),
                (GskAdvancedParms, "TTLSGskAdvancedParmsRef"),
            ],
            ConnectionAction => &[
                (CipherParms, "TTLSCipherParmsRef"),
                (SignatureParms, "TTLSSignatureParmsRef"),
                (ConnectionAdvancedParms, "TTLSConnectionAdvancedParmsRef"),
            ],
            GskAdvancedParms => &[
                (GskLdapParms, "TTLSGskLdapParmsRef"),
                (GskOcspParms, "TTLSGskOcspParmsRef"),
                (GskHttpCdpParms, "TTLSGskHttpCdpParmsRef"),
            ],
            IpAddrGroup => &[(IpAddr, "IpAddrRef"), (IpAddrSet, "IpAddrSetRef")],
            PortGroup => &[(PortRange, "PortRangeRef")],
            _ => &[],
        }
    }

    /// Group statements hold a list of members; every other inline block fills one slot.
    pub fn children_are_members(self) -> bool {
        matches!(self, Kind::IpAddrGroup | Kind::PortGroup)
    }

    pub fn is_action(self) -> bool {
        matches!(self, Kind::GroupAction | Kind::EnvironmentAction | Kind::ConnectionAction)
    }

    pub fn params(self) -> &'static [Param] {
        use Kind::*;
        match self {
            Rule => RULE,
            GroupAction => GROUP_ACTION,
            EnvironmentAction => ENV_ACTION,
            ConnectionAction => CONN_ACTION,
            KeyringParms => KEYRING,
            CipherParms => CIPHER,
            SignatureParms => SIGNATURE,
            EnvironmentAdvancedParms | ConnectionAdvancedParms => ADVANCED,
            GroupAdvancedParms => GROUP_ADVANCED,
            GskAdvancedParms => GSK_ADVANCED,
            GskLdapParms => GSK_LDAP,
            GskOcspParms => GSK_OCSP,
            GskHttpCdpParms => GSK_HTTP_CDP,
            IpAddr => IP_ADDR,
            IpAddrSet => IP_ADDR_SET,
            IpAddrGroup => IP_ADDR_GROUP,
            PortRange => PORT_RANGE,
            PortGroup => PORT_GROUP,
            IpTimeCondition => IP_TIME,
        }
    }

    pub fn param(self, word: &str) -> Option<&'static Param> {
        self.params().iter().find(|p| p.name.eq_ignore_ascii_case(word))
    }

    /// The statement kinds (other than this one) in which a parameter of this name is valid.
    pub fn homes_of(word: &str) -> Vec<Kind> {
        ALL_KINDS.into_iter().filter(|k| k.param(word).is_some()).collect()
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// How a parameter's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    OnOff,
    /// A decimal integer in an inclusive range.
    Int(u64, u64),
    /// One of the listed words (any case); the first spelling is canonical.
    Enum(&'static [&'static str]),
    /// The rest of the line (labels and paths may hold blanks).
    Text,
    /// One free-form token.
    Token,
    /// The name of a top-level statement of this kind.
    Ref(Kind),
    /// `All`, an address, `addr/len` or `addr-addr` (rule conditions).
    AddrSpec,
    /// One address (`IpAddr Addr`).
    Addr,
    /// `addr/len` (`IpAddrSet Prefix`).
    Prefix,
    /// `addr-addr` (`IpAddrSet Range`).
    Range,
    /// `n` or `n-m`, 0–65535.
    Ports,
    /// Job name or user ID: up to 32 characters, optional trailing `*`.
    Jobname,
    /// 2-character hex codes, or one suite name.
    Cipher2,
    /// 4-character hex codes, or one suite name.
    Cipher4,
    /// `Any` or a string of 4-digit decimal group numbers.
    Groups,
    /// A string of 4-hex-digit signature pairs.
    HexPairs,
}

/// How attls supports a parameter (the statuses of docs/policy-reference.md#status-legend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// A: applied.
    Applied,
    /// L: rustls cannot do it.
    Rustls,
    /// L, but only when the value is not `Off` (or the default).
    RustlsUnlessOff,
    /// Z: means nothing on Linux.
    Zos,
    /// Z, unless the value is `Off`.
    ZosUnlessOff,
    /// P: not applied yet.
    Pending,
    /// P, unless the value is `Off`.
    PendingUnlessOff,
}

/// One parameter of one statement type.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub ty: ValueType,
    pub support: Support,
    /// Repeats concatenate (lists) instead of the last one winning.
    pub multi: bool,
    /// Parameters sharing a slot are two forms of one setting (D4: last written wins).
    pub slot: Option<&'static str>,
    /// Documented at environment level only (D16).
    pub env_only: bool,
    /// The value attls resolves when no level writes it, in policy spelling (the one place reports
    /// take defaults from, [`super::effective`]); `None`: no default, or not resolved on its own.
    /// The cipher list's default is [`super::resolve::DEFAULT_CIPHERS`] (D15).
    pub default: Option<&'static str>,
}

const fn p(name: &'static str, ty: ValueType) -> Param {
    Param { name, ty, support: Support::Applied, multi: false, slot: None, env_only: false, default: None }
}
const fn sup(mut param: Param, support: Support) -> Param {
    param.support = support;
    param
}
const fn multi(mut param: Param) -> Param {
    param.multi = true;
    param
}
const fn slot(mut param: Param, slot: &'static str) -> Param {
    param.slot = Some(slot);
    param
}
const fn env_only(mut param: Param) -> Param {
    param.env_only = true;
    param
}
const fn dflt(mut param: Param, default: &'static str) -> Param {
    param.default = Some(default);
    param
}

/// The default of a keyword (one across the statements that hold it: see the tests).
pub fn default_of(word: &str) -> Option<&'static str> {
    ALL_KINDS.into_iter().find_map(|k| k.param(word).and_then(|p| p.default))
}

use Support::*;
use ValueType::*;

const ROLES: &[&str] = &["Client", "Server", "ServerWithClientAuth"];
const REQ_OPT_OFF: &[&str] = &["Required", "Optional", "Off"];

/// Written at each action level, one default (docs/policy-reference.md#levels-and-precedence).
const TRACE: Param = dflt(p("Trace", Int(0, 255)), "2");
const CTRACE_CLEAR_TEXT: Param = dflt(sup(p("CtraceClearText", OnOff), ZosUnlessOff), "Off");

static RULE: &[Param] = &[
    slot(p("LocalAddr", AddrSpec), "LocalAddr"),
    slot(p("LocalAddrRef", Ref(Kind::IpAddr)), "LocalAddr"),
    slot(p("LocalAddrSetRef", Ref(Kind::IpAddrSet)), "LocalAddr"),
    slot(p("LocalAddrGroupRef", Ref(Kind::IpAddrGroup)), "LocalAddr"),
    slot(p("RemoteAddr", AddrSpec), "RemoteAddr"),
    slot(p("RemoteAddrRef", Ref(Kind::IpAddr)), "RemoteAddr"),
    slot(p("RemoteAddrSetRef", Ref(Kind::IpAddrSet)), "RemoteAddr"),
    slot(p("RemoteAddrGroupRef", Ref(Kind::IpAddrGroup)), "RemoteAddr"),
    slot(p("LocalPortRange", Ports), "LocalPort"),
    slot(p("LocalPortRangeRef", Ref(Kind::PortRange)), "LocalPort"),
    slot(p("LocalPortGroupRef", Ref(Kind::PortGroup)), "LocalPort"),
    slot(p("RemotePortRange", Ports), "RemotePort"),
    slot(p("RemotePortRangeRef", Ref(Kind::PortRange)), "RemotePort"),
    slot(p("RemotePortGroupRef", Ref(Kind::PortGroup)), "RemotePort"),
    p("Jobname", Jobname),
    p("Userid", Jobname),
    p("Direction", Enum(&["Inbound", "Outbound", "Both"])),
    p("Priority", Int(1, 2_000_000_000)),
    p("TTLSGroupActionRef", Ref(Kind::GroupAction)),
    p("TTLSEnvironmentActionRef", Ref(Kind::EnvironmentAction)),
    p("TTLSConnectionActionRef", Ref(Kind::ConnectionAction)),
    slot(sup(p("IpTimeConditionRef", Ref(Kind::IpTimeCondition)), Pending), "IpTimeCondition"),
];

static GROUP_ACTION: &[Param] = &[
    dflt(p("TTLSEnabled", OnOff), "Off"),
    TRACE,
    CTRACE_CLEAR_TEXT,
    slot(p("TTLSGroupAdvancedParmsRef", Ref(Kind::GroupAdvancedParms)), "TTLSGroupAdvancedParms"),
    sup(p("FIPS140", Enum(&["Off", "On", "Level1", "Level2", "Level3"])), FIPS140_SUPPORT),
    dflt(p("GroupUserInstance", Int(0, u32::MAX as u64)), "0"),
];

static ENV_ACTION: &[Param] = &[
    slot(p("TTLSKeyringParmsRef", Ref(Kind::KeyringParms)), "TTLSKeyringParms"),
    p("HandshakeRole", Enum(ROLES)),
    slot(p("TTLSCipherParmsRef", Ref(Kind::CipherParms)), "TTLSCipherParms"),
    slot(p("TTLSSignatureParmsRef", Ref(Kind::SignatureParms)), "TTLSSignatureParms"),
    slot(
        p("TTLSEnvironmentAdvancedParmsRef", Ref(Kind::EnvironmentAdvancedParms)),
        "TTLSEnvironmentAdvancedParms",
    ),
    slot(p("TTLSGskAdvancedParmsRef", Ref(Kind::GskAdvancedParms)), "TTLSGskAdvancedParms"),
    sup(p("SuiteBProfile", Enum(&["Off", "128", "128Min", "192", "192Min", "All"])), PendingUnlessOff),
    TRACE,
    CTRACE_CLEAR_TEXT,
    dflt(p("EnvironmentUserInstance", Int(0, u32::MAX as u64)), "0"),
];

static CONN_ACTION: &[Param] = &[
    p("HandshakeRole", Enum(ROLES)),
    slot(p("TTLSCipherParmsRef", Ref(Kind::CipherParms)), "TTLSCipherParms"),
    slot(p("TTLSSignatureParmsRef", Ref(Kind::SignatureParms)), "TTLSSignatureParms"),
    slot(
        p("TTLSConnectionAdvancedParmsRef", Ref(Kind::ConnectionAdvancedParms)),
        "TTLSConnectionAdvancedParms",
    ),
    TRACE,
    CTRACE_CLEAR_TEXT,
    dflt(p("ConnectionUserInstance", Int(0, u32::MAX as u64)), "0"),
];

static KEYRING: &[Param] = &[p("Keyring", Text), p("KeyringPw", Text), p("KeyringStashFile", Text)];

static CIPHER: &[Param] = &[
    multi(p("V3CipherSuites", Cipher2)),
    multi(p("V3CipherSuites4Char", Cipher4)),
    multi(sup(p("V2CipherSuites", Token), Rustls)),
];

/// Unwritten key-share groups are the provider's defaults, as `Any` (D30).
static SIGNATURE: &[Param] = &[
    dflt(multi(p("ClientECurves", Groups)), "Any"),
    dflt(multi(p("ClientKeyShareGroups", Groups)), "Any"),
    dflt(multi(p("ServerKexECurves", Groups)), "Any"),
    dflt(multi(p("ServerKeyShareGroups", Groups)), "Any"),
    multi(sup(p("SignaturePairs", HexPairs), Pending)),
    multi(sup(p("SignaturePairsCert", HexPairs), Pending)),
];

/// Advanced parameters, shared by TTLSEnvironmentAdvancedParms and TTLSConnectionAdvancedParms.
static ADVANCED: &[Param] = &[
    dflt(sup(p("SSLv2", OnOff), RustlsUnlessOff), "Off"),
    dflt(sup(p("SSLv3", OnOff), RustlsUnlessOff), "Off"),
    dflt(sup(p("TLSv1", OnOff), RustlsUnlessOff), "Off"),
    dflt(sup(p("TLSv1.1", OnOff), RustlsUnlessOff), "Off"),
    dflt(p("TLSv1.2", OnOff), "On"),
    dflt(p("TLSv1.3", OnOff), "On"),
    dflt(p("ApplicationControlled", OnOff), "Off"),
    dflt(p("HandshakeTimeout", Int(0, 86_400)), "10"),
    dflt(p("ResetCipherTimer", Int(0, 1_440)), "0"),
    dflt(p("SecondaryMap", OnOff), "Off"),
    p("CertificateLabel", Text),
    multi(p("ServerCertificateLabel", Text)),
    p("ClientHandshakeSNI", Enum(REQ_OPT_OFF)),
    p("ClientHandshakeSNIMatch", Enum(REQ_OPT_OFF)),
    multi(p("ClientHandshakeSNIList", Text)),
    p("ServerHandshakeSNI", Enum(REQ_OPT_OFF)),
    p("ServerHandshakeSNIMatch", Enum(REQ_OPT_OFF)),
    multi(p("ServerHandshakeSNIList", Text)),
    multi(p("HostReferenceIdDNS", Text)),
    multi(sup(p("HostReferenceIdCN", Text), Pending)),
    sup(p("HostRefWildcardValidation", Token), Pending),
    env_only(dflt(p("ClientAuthType", Enum(&["Required", "PassThru", "Full", "SAFCheck"])), "Required")),
    env_only(p("CertValidationMode", Enum(&["Any", "RFC2459", "RFC3280", "RFC5280"]))),
    sup(p("MiddleBoxCompatMode", OnOff), RustlsUnlessOff),
    sup(p("TruncatedHMAC", Enum(REQ_OPT_OFF)), RustlsUnlessOff),
    sup(p("ClientMaxSSLFragment", Enum(REQ_OPT_OFF)), RustlsUnlessOff),
    sup(p("ClientMaxSSLFragmentLength", Int(512, 4096)), Rustls),
    sup(p("ServerMaxSSLFragment", Enum(REQ_OPT_OFF)), RustlsUnlessOff),
    env_only(sup(p("Renegotiation", Enum(&["Default", "Disabled", "All", "Abbreviated"])), Rustls)),
    env_only(sup(p("RenegotiationIndicator", Enum(&["Optional", "Client", "Server", "Both"])), Rustls)),
    env_only(sup(p("RenegotiationCertCheck", OnOff), ZosUnlessOff)),
    env_only(sup(p("ServerEDHGroupSize", Token), Rustls)),
    env_only(sup(p("ClientEDHGroupSize", Token), Rustls)),
    env_only(sup(p("PeerMinCertVersion", Token), Rustls)),
    env_only(sup(p("PeerMinDHKeySize", Int(0, 65_535)), Rustls)),
    env_only(sup(p("PeerMinDsaKeySize", Int(0, 65_535)), Rustls)),
    env_only(sup(p("PeerMinECCKeySize", Int(0, 65_535)), Rustls)),
    env_only(sup(p("PeerMinRsaKeySize", Int(0, 65_535)), Rustls)),
    env_only(sup(p("ServerScsv", OnOff), RustlsUnlessOff)),
    env_only(sup(p("ClientExtendedMasterSecret", Token), Rustls)),
    env_only(sup(p("ServerExtendedMasterSecret", Token), Rustls)),
    env_only(sup(p("3DesKeyCheck", OnOff), ZosUnlessOff)),
];

static GROUP_ADVANCED: &[Param] = &[
    sup(p("Envfile", Text), Zos),
    dflt(p("SyslogFacility", Enum(&["Daemon", "Auth"])), "Daemon"),
    sup(p("SecondaryMap", OnOff), PendingUnlessOff),
];

static GSK_ADVANCED: &[Param] = &[
    dflt(p("GSK_V3_SESSION_TIMEOUT", Int(0, 86_400)), "86400"),
    dflt(p("GSK_V3_SIDCACHE_SIZE", Int(0, 64_000)), "512"),
    dflt(p("GSK_SESSION_TICKET_SERVER_ENABLE", OnOff), "On"),
    dflt(p("GSK_SESSION_TICKET_SERVER_COUNT", Int(1, 16)), "2"),
    dflt(p("GSK_SESSION_TICKET_SERVER_TIMEOUT", Int(1, 86_400)), "300"),
    dflt(p("GSK_SESSION_TICKET_SERVER_KEY_REFRESH", Int(1, 86_400)), "300"),
    dflt(p("GSK_SESSION_TICKET_CLIENT_ENABLE", OnOff), "On"),
    sup(p("GSK_SESSION_TICKET_SERVER_ALGORITHM", Enum(&["AESCBC128", "AESCBC256"])), Zos),
    sup(p("GSK_SESSION_TICKET_CLIENT_MAXSIZE", Int(0, 65_535)), Zos),
    sup(p("GSK_SYSPLEX_SIDCACHE", OnOff), ZosUnlessOff),
    sup(p("GSK_V2_SESSION_TIMEOUT", Int(0, 100)), Rustls),
    sup(p("GSK_V2_SIDCACHE_SIZE", Int(0, 64_000)), Rustls),
    sup(p("AIACDPPriority", Token), Pending),
    sup(p("MaxSrcRevExtLocValues", Int(0, 256)), Pending),
    sup(p("MaxValidRevExtLocValues", Int(0, 256)), Pending),
    p("RevocationSecurityLevel", Enum(&["Medium", "Low", "High"])),
    slot(p("TTLSGskLdapParmsRef", Ref(Kind::GskLdapParms)), "TTLSGskLdapParms"),
    slot(p("TTLSGskOcspParmsRef", Ref(Kind::GskOcspParms)), "TTLSGskOcspParms"),
    slot(p("TTLSGskHttpCdpParmsRef", Ref(Kind::GskHttpCdpParms)), "TTLSGskHttpCdpParms"),
];

static IP_ADDR: &[Param] = &[p("Addr", Addr)];
static IP_ADDR_SET: &[Param] =
    &[slot(p("Prefix", Prefix), "PrefixRange"), slot(p("Range", Range), "PrefixRange")];
static PORT_RANGE: &[Param] = &[p("Port", Ports)];
static IP_ADDR_GROUP: &[Param] =
    &[multi(p("IpAddrRef", Ref(Kind::IpAddr))), multi(p("IpAddrSetRef", Ref(Kind::IpAddrSet)))];
static PORT_GROUP: &[Param] = &[multi(p("PortRangeRef", Ref(Kind::PortRange)))];

#[cfg(test)]
mod tests;
