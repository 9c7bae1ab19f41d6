//! The rule table: every rule with its conditions and its effective settings, immutable once built,
//! sorted in evaluation order (D1), with a port index for fast lookup (see `matcher`).

use std::sync::Arc;

use serde::Serialize;

use super::ast::{AddrMatch, PortSpan};
use super::matcher::PortIndex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Direction {
    Inbound,
    Outbound,
    Both,
}

/// The direction of one connection (a rule may say `Both`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ConnDirection {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn admits(self, d: ConnDirection) -> bool {
        matches!(
            (self, d),
            (Direction::Both, _)
                | (Direction::Inbound, ConnDirection::Inbound)
                | (Direction::Outbound, ConnDirection::Outbound)
        )
    }
    pub fn word(self) -> &'static str {
        match self {
            Direction::Inbound => "Inbound",
            Direction::Outbound => "Outbound",
            Direction::Both => "Both",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Role {
    Client,
    Server,
    ServerWithClientAuth,
}

impl Role {
    pub fn word(self) -> &'static str {
        match self {
            Role::Client => "Client",
            Role::Server => "Server",
            Role::ServerWithClientAuth => "ServerWithClientAuth",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ClientAuthType {
    PassThru,
    Full,
    Required,
    /// Enforced as Required (D28).
    SafCheck,
}

impl ClientAuthType {
    pub fn word(self) -> &'static str {
        match self {
            ClientAuthType::PassThru => "PassThru",
            ClientAuthType::Full => "Full",
            ClientAuthType::Required => "Required",
            ClientAuthType::SafCheck => "SAFCheck",
        }
    }
}

/// Policy status of a mapped connection (docs/policy-reference.md#policy-status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PolicyStatus {
    #[serde(rename = "NO_POLICY")]
    NoPolicy,
    #[serde(rename = "NOT_ENABLED")]
    NotEnabled,
    #[serde(rename = "ENABLED")]
    Enabled,
    #[serde(rename = "APPLCNTRL")]
    ApplCntrl,
}

impl PolicyStatus {
    pub fn word(self) -> &'static str {
        match self {
            PolicyStatus::NoPolicy => "NO_POLICY",
            PolicyStatus::NotEnabled => "NOT_ENABLED",
            PolicyStatus::Enabled => "ENABLED",
            PolicyStatus::ApplCntrl => "APPLCNTRL",
        }
    }
}

/// An address condition: empty `entries` means any address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddrCond {
    /// The name of the IpAddr, IpAddrSet or IpAddrGroup referred to, if any.
    pub label: Option<String>,
    pub entries: Vec<AddrMatch>,
}

/// A port condition: empty `entries` means any port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortCond {
    pub label: Option<String>,
    pub entries: Vec<PortSpan>,
}

/// The six protocol switches, resolved one by one (D5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Protocols {
    pub sslv2: bool,
    pub sslv3: bool,
    pub tlsv1: bool,
    pub tlsv1_1: bool,
    pub tlsv1_2: bool,
    pub tlsv1_3: bool,
}

impl Protocols {
    /// Every switch that is On, by name (`TLSv1.2`), oldest first.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.sslv2, "SSLv2"),
            (self.sslv3, "SSLv3"),
            (self.tlsv1, "TLSv1"),
            (self.tlsv1_1, "TLSv1.1"),
            (self.tlsv1_2, "TLSv1.2"),
            (self.tlsv1_3, "TLSv1.3"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect()
    }
}

/// `ServerHandshakeSNI` and `ServerHandshakeSNIMatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SniMode {
    #[default]
    Off,
    Optional,
    Required,
}

/// How a server role picks the certificate it presents (docs/policy-reference.md, "Certificates
/// and names").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerCerts {
    /// `ServerCertificateLabel` values: candidates chosen by what the client can verify.
    pub labels: Vec<String>,
    pub sni: SniMode,
    pub sni_match: SniMode,
    /// `ServerHandshakeSNIList` values as written (`NAME/LABEL`).
    pub sni_list: Vec<String>,
}

/// `RevocationSecurityLevel`: what a certificate whose revocation status cannot be had gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RevocationLevel {
    /// Accepted.
    Low,
    /// Accepted, as under Low (attls has no source that can answer "unknown" apart from having no
    /// CRL: keyring CRLs and, with `HttpCdpEnable On`, fetched ones).
    #[default]
    Medium,
    /// Refused.
    High,
}

/// `TTLSGskHttpCdpParms`: CRLs fetched from the `http://` distribution points of peer certificates
/// (docs/policy-reference.md, "TTLSGskHttpCdpParms"). Values as written; the engine's revocation
/// module gives 0 its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpCdpSettings {
    /// `HttpCdpEnable`.
    pub enable: bool,
    /// `HttpCdpCacheSize`: fetched CRLs kept; 0 keeps none.
    pub cache_size: u32,
    /// `HttpCdpCacheEntryMaxsize`: bytes; a larger CRL is used but not kept; 0 = no limit of its own.
    pub cache_entry_max_size: u32,
    /// `HttpCdpMaxResponseSize`: bytes; a larger response is refused; 0 = attls's ceiling.
    pub max_response_size: u32,
    /// `HttpCdpResponseTimeout`: seconds; 0 = the default.
    pub response_timeout: u32,
}

impl Default for HttpCdpSettings {
    fn default() -> Self {
        HttpCdpSettings {
            enable: false,
            cache_size: 32,
            cache_entry_max_size: 0,
            max_response_size: 1_048_576,
            response_timeout: 15,
        }
    }
}

/// `TTLSGskOcspParms`: OCSP checking of peer certificates and stapling of the server's own
/// (docs/policy-reference.md, "TTLSGskOcspParms"). Values as written; the engine's revocation
/// module gives 0 its meaning.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OcspSettings {
    /// `OcspAiaEnable`: ask the responder named in the certificate's AIA extension.
    pub aia_enable: bool,
    /// `OcspUrl`: a fixed responder.
    pub url: Option<String>,
    /// `OcspUrlPriority`: On asks `OcspUrl` before the AIA responder.
    pub url_priority: bool,
    /// `OcspCliCacheSize` (or `OcspClientCacheSize`): answers kept; 0 keeps none.
    pub cache_size: u32,
    /// `OcspCliCacheEntryMaxsize`: bytes; a larger response is used but not kept; 0 = no limit.
    pub cache_entry_max_size: u32,
    /// `OcspMaxResponseSize`: bytes; a larger response is refused; 0 = attls's ceiling.
    pub max_response_size: u32,
    /// `OcspResponseTimeout`: seconds; 0 = the default.
    pub response_timeout: u32,
    /// `OcspNonceGenEnable`: send a nonce in each request.
    pub nonce_gen_enable: bool,
    /// `OcspNonceCheckEnable`: require the response to echo it.
    pub nonce_check_enable: bool,
    /// `OcspNonceSize`: bytes of nonce.
    pub nonce_size: u32,
    /// `OcspServerStapling`: the server roles staple a response for their certificate.
    pub server_stapling: bool,
}

impl OcspSettings {
    /// Whether peer certificates are checked: some responder can be asked.
    pub fn checking(&self) -> bool {
        self.aia_enable || self.url.is_some()
    }
}

impl Default for OcspSettings {
    fn default() -> Self {
        OcspSettings {
            aia_enable: false,
            url: None,
            url_priority: true,
            cache_size: 256,
            cache_entry_max_size: 0,
            max_response_size: 20_480,
            response_timeout: 15,
            nonce_gen_enable: false,
            nonce_check_enable: false,
            nonce_size: 8,
            server_stapling: false,
        }
    }
}

/// Session cache and ticket settings (TTLSGskAdvancedParms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    pub session_timeout: u32,
    pub sid_cache_size: u32,
    pub ticket_server_enable: bool,
    pub ticket_server_count: u32,
    pub ticket_server_timeout: u32,
    pub ticket_server_key_refresh: u32,
    pub ticket_client_enable: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            session_timeout: 86_400,
            sid_cache_size: 512,
            ticket_server_enable: true,
            ticket_server_count: 2,
            ticket_server_timeout: 300,
            ticket_server_key_refresh: 300,
            ticket_client_enable: true,
        }
    }
}

/// The effective settings of a rule: group, environment and connection actions merged with the
/// documented defaults (connection over environment over group over default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub ttls_enabled: bool,
    pub trace: u8,
    pub ctrace_clear_text: bool,
    pub syslog_facility: &'static str,
    pub handshake_role: Option<Role>,
    pub client_auth_type: ClientAuthType,
    pub keyring: Option<String>,
    /// Directory of the policy file that wrote `Keyring`, for `./` and `../` paths (D10).
    pub keyring_dir: Option<std::path::PathBuf>,
    /// Where `Keyring` was written, for errors about opening it (spans of this load).
    pub keyring_span: Option<super::source::Span>,
    pub keyring_pw: Option<String>,
    pub keyring_stash_file: Option<String>,
    pub certificate_label: Option<String>,
    pub protocols: Protocols,
    /// Effective cipher list, 4-hex codes in preference order, including codes rustls cannot do.
    pub ciphers: Vec<u16>,
    /// The part of `ciphers` that will be offered.
    pub ciphers_rustls: Vec<u16>,
    /// The environment action's own list (written, else the D15 default): what netstat's environment
    /// block shows when the connection action replaces it.
    pub environment_ciphers: Vec<u16>,
    /// Key-share groups as written for this role (z/OS numbers); `None` = the provider's defaults.
    pub groups: Option<Vec<u16>>,
    pub groups_rustls: Option<Vec<u16>>,
    pub application_controlled: bool,
    pub secondary_map: bool,
    /// `FIPS140` other than Off in the group action: approved algorithms only (a FIPS build).
    pub fips140: bool,
    /// Seconds; 0 = none.
    pub handshake_timeout: u32,
    /// Minutes; 0 = never.
    pub reset_cipher_timer: u32,
    /// `ClientHandshakeSNI` as written (`None` = unwritten: send the D21 name).
    pub client_handshake_sni: Option<&'static str>,
    pub client_handshake_sni_list: Vec<String>,
    pub host_reference_id_dns: Vec<String>,
    pub server_certs: ServerCerts,
    pub revocation_level: RevocationLevel,
    pub http_cdp: HttpCdpSettings,
    pub ocsp: OcspSettings,
    pub session: SessionSettings,
    /// Every other written parameter (keyword, value), sorted by keyword.
    pub other: Vec<(String, String)>,
    /// The parameters as written at each action level, for the netstat detail report.
    pub written: WrittenActions,
}

/// Parameters as written in each action (with its inline or referenced parms blocks), in file
/// order, keywords in IBM's spelling. `KeyringPw` is never kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WrittenActions {
    pub group: Vec<(String, String)>,
    pub environment: Vec<(String, String)>,
    pub connection: Vec<(String, String)>,
}

impl Settings {
    /// Whether the rule runs with FIPS-approved algorithms only: `FIPS140` not Off, in a build with
    /// AWS-LC's FIPS module (other builds warn and run it as usual; docs/fips.md).
    pub fn fips_enforced(&self) -> bool {
        cfg!(feature = "fips") && self.fips140
    }

    pub fn status(&self) -> PolicyStatus {
        match (self.ttls_enabled, self.application_controlled) {
            (false, _) => PolicyStatus::NotEnabled,
            (true, false) => PolicyStatus::Enabled,
            (true, true) => PolicyStatus::ApplCntrl,
        }
    }
}

/// One rule in evaluation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub priority: Option<u32>,
    pub direction: Direction,
    pub local_addr: AddrCond,
    pub remote_addr: AddrCond,
    pub local_port: PortCond,
    pub remote_port: PortCond,
    pub jobname: Option<String>,
    pub userid: Option<String>,
    pub time_condition: bool,
    pub group_action: String,
    pub environment_action: Option<String>,
    pub connection_action: Option<String>,
    pub settings: Arc<Settings>,
}

/// All rules of one policy generation, sorted by D1, with the lookup index.
#[derive(Debug, Clone)]
pub struct RuleTable {
    rules: Vec<Arc<Rule>>,
    pub(super) index: PortIndex,
}

impl RuleTable {
    /// Whether some rule for `direction` conditions on the owner (a Jobname or Userid other than
    /// `*`): a connection whose owner is unknown cannot be mapped safely then (docs/decisions.md D35).
    pub fn conditions_on_owner(&self, direction: ConnDirection) -> bool {
        let named = |p: &Option<String>| p.as_deref().is_some_and(|p| p != "*");
        self.rules.iter().any(|r| {
            let applies = match r.direction {
                Direction::Both => true,
                Direction::Inbound => direction == ConnDirection::Inbound,
                Direction::Outbound => direction == ConnDirection::Outbound,
            };
            applies && (named(&r.jobname) || named(&r.userid))
        })
    }

    /// Sorts `rules` into evaluation order and builds the index.
    pub fn new(mut rules: Vec<Rule>) -> Self {
        rules.sort_by(|a, b| {
            // Priority descending (absent last), then name ascending byte-wise.
            b.priority.cmp(&a.priority).then_with(|| a.name.as_bytes().cmp(b.name.as_bytes()))
        });
        let index = PortIndex::build(&rules);
        RuleTable { rules: rules.into_iter().map(Arc::new).collect(), index }
    }
    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }
    pub fn len(&self) -> usize {
        self.rules.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
    pub fn get(&self, name: &str) -> Option<&Arc<Rule>> {
        self.rules.iter().find(|r| r.name == name)
    }
}

impl PartialEq for RuleTable {
    fn eq(&self, other: &Self) -> bool {
        self.rules == other.rules
    }
}
