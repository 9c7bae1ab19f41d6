//! Parameters of the statements attls accepts and does not apply yet (status P of
//! docs/policy-reference.md#status-legend): the GSK LDAP and OCSP parms, the HTTP CDP proxy and
//! IpTimeCondition, each a free-form token; and the HTTP CDP parms attls applies.

use super::Support::Pending;
use super::ValueType::{Int, OnOff, Token};
use super::{Param, dflt, p, sup};

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

pub(super) static GSK_OCSP: &[Param] = pending_tokens![
    "OcspAiaEnable",
    "OcspCliCacheSize",
    "OcspClientCacheSize",
    "OcspCliCacheEntryMaxsize",
    "OcspMaxResponseSize",
    "OcspNonceCheckEnable",
    "OcspNonceGenEnable",
    "OcspNonceSize",
    "OcspProxyServerName",
    "OcspProxyServerPort",
    "OcspRequestSigalg",
    "OcspRequestSigkeylabel",
    "OcspResponseSigAlgPairs",
    "OcspResponseTimeout",
    "OcspRetrieveViaGet",
    "OcspServerStapling",
    "OcspServerStaplingSignaturePairs",
    "OcspUrl",
    "OcspUrlPriority",
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
