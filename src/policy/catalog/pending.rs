//! Parameters of the statements attls accepts and does not apply yet (status P of
//! docs/policy-reference.md#status-legend): the GSK LDAP, OCSP and HTTP CDP parms and
//! IpTimeCondition, each a free-form token.

use super::Support::Pending;
use super::ValueType::Token;
use super::{Param, p, sup};

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

pub(super) static GSK_HTTP_CDP: &[Param] = pending_tokens![
    "HttpCdpCacheSize",
    "HttpCdpCacheEntryMaxsize",
    "HttpCdpEnable",
    "HttpCdpMaxResponseSize",
    "HttpCdpProxyServerName",
    "HttpCdpProxyServerPort",
    "HttpCdpResponseTimeout",
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
