//! Parameters of the statements attls accepts and does not apply yet (status P of
//! docs/policy-reference.md#status-legend): the GSK LDAP parms, the HTTP CDP and OCSP proxies, OCSP
//! request signing and IpTimeCondition, each a free-form token; and the HTTP CDP and OCSP parms
//! attls applies.

use super::Support::{self, Applied, Pending, PendingUnlessOff};
use super::ValueType::{Int, OnOff, Token};
use super::{Param, dflt, p, slot, sup};

/// FIPS140 is applied by a build with the `fips` feature (AWS-LC's FIPS module) and accepted and
/// warned in every other build (docs/fips.md).
pub(super) const FIPS140_SUPPORT: Support = if cfg!(feature = "fips") { Applied } else { PendingUnlessOff };

macro_rules! pending_tokens {
    ($($name:literal),* $(,)?) => { &[$(sup(p($name, Token), Pending)),*] };
}

pub(super) static GSK_LDAP: &[Param] = pending_tokens![
    "GSK_LDAP_SERVER",
    "GSK_LDAP_SERVER_PORT",
    "GSK_LDAP_USER",
    "GSK_LDAP_PASSWORD",
    "GSK_LDAP_USER_PW",
    "GSK_CRL_CACHE_TIMEOUT",
    "GSK_CRL_SECURITY_LEVEL",
    "GSK_CRL_CACHE_SIZE",
    "GSK_CRL_CACHE_ENTRY_MAXSIZE",
    "GSK_CRL_CACHE_EXTENDED",
    "GSK_CRL_CACHE_TEMP_CRL",
    "GSK_CRL_CACHE_TEMP_CRL_TIMEOUT",
    "LDAPResponseTimeout",
    "CRLCacheSize",
    "CRLCacheEntryMaxsize",
    "CRLCacheExtended",
    "CRLCacheTempCRL",
    "CRLCacheTempCRLTimeout",
];

/// Applied but for request signing, the proxy, GET and the signature-pair lists
/// (docs/policy-reference.md, "TTLSGskOcspParms").
pub(super) static GSK_OCSP: &[Param] = &[
    dflt(p("OcspAiaEnable", OnOff), "Off"),
    dflt(slot(p("OcspCliCacheSize", Int(0, 32_000)), "OcspCliCacheSize"), "256"),
    slot(p("OcspClientCacheSize", Int(0, 32_000)), "OcspCliCacheSize"),
    dflt(p("OcspCliCacheEntryMaxsize", Int(0, 2_147_483_647)), "0"),
    dflt(p("OcspMaxResponseSize", Int(0, 2_147_483_647)), "20480"),
    dflt(p("OcspNonceCheckEnable", OnOff), "Off"),
    dflt(p("OcspNonceGenEnable", OnOff), "Off"),
    dflt(p("OcspNonceSize", Int(8, 256)), "8"),
    sup(p("OcspProxyServerName", Token), Pending),
    sup(p("OcspProxyServerPort", Token), Pending),
    sup(p("OcspRequestSigalg", Token), Pending),
    sup(p("OcspRequestSigkeylabel", Token), Pending),
    sup(p("OcspResponseSigAlgPairs", Token), Pending),
    dflt(p("OcspResponseTimeout", Int(0, 43_200)), "15"),
    sup(p("OcspRetrieveViaGet", OnOff), PendingUnlessOff),
    dflt(p("OcspServerStapling", OnOff), "Off"),
    sup(p("OcspServerStaplingSignaturePairs", Token), Pending),
    p("OcspUrl", Token),
    dflt(p("OcspUrlPriority", OnOff), "On"),
];

/// Applied but for the proxy (docs/policy-reference.md, "TTLSGskHttpCdpParms"): attls fetches
/// CRLs directly.
pub(super) static GSK_HTTP_CDP: &[Param] = &[
    dflt(p("HttpCdpCacheSize", Int(0, 32_000)), "32"),
    dflt(p("HttpCdpCacheEntryMaxsize", Int(0, 2_147_483_647)), "0"),
    dflt(p("HttpCdpEnable", OnOff), "Off"),
    dflt(p("HttpCdpMaxResponseSize", Int(0, 2_147_483_647)), "1048576"),
    sup(p("HttpCdpProxyServerName", Token), Pending),
    sup(p("HttpCdpProxyServerPort", Token), Pending),
    dflt(p("HttpCdpResponseTimeout", Int(0, 43_200)), "15"),
];

pub(super) static IP_TIME: &[Param] = pending_tokens![
    "FirstDateTime",
    "LastDateTime",
    "TimeZone",
    "DayOfMonthMask",
    "DayOfWeekMask",
    "MonthOfYearMask",
    "TimeOfDayRange",
    "ConditionTimeRange",
    "TimePeriod",
];
