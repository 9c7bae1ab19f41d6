//! Effective settings of one (group, environment, connection) combination: each setting from the
//! connection level, else the environment level, else the group, else the documented default
//! (docs/policy-reference.md#levels-and-precedence, D5); cipher and signature parms are replaced
//! whole by the connection level.

use super::super::ast::{Statement, Value};
use super::super::catalog::Kind;
use super::super::rustls_caps;
use super::super::source::Span;
use super::super::table::{
    ClientAuthType, HttpCdpSettings, OcspSettings, Protocols, RevocationLevel, Role, ServerCerts,
    SessionSettings, Settings, SniMode, WrittenActions,
};
use super::super::{ciphers, diag::Diagnostic};
use super::levels::Levels;
use super::written_lists::{other_params, written};
use super::{Resolver, int, on_off, text, word};

/// D15: the list used when no TTLSCipherParms is written at any level.
pub const DEFAULT_CIPHERS: [u16; 9] =
    [0x1302, 0x1301, 0x1303, 0xC02C, 0xC02B, 0xCCA9, 0xC030, 0xC02F, 0xCCA8];

/// The cipher lists of one combination (D6, D15).
struct CipherLists {
    /// The effective list: as written at the level that wins, else the default.
    ciphers: Vec<u16>,
    /// Those of `ciphers` rustls can negotiate with the protocols that are On.
    rustls: Vec<u16>,
    /// The environment level's list (or the default), for reports.
    environment: Vec<u16>,
}

impl CipherLists {
    fn new(lv: &Levels<'_>, written_ciphers: &[(u16, Span)], protocols: &Protocols) -> Self {
        let or_default = |list: Vec<(u16, Span)>| -> Vec<u16> {
            if list.is_empty() { DEFAULT_CIPHERS.to_vec() } else { list.iter().map(|&(c, _)| c).collect() }
        };
        let environment = or_default(cipher_list(lv.env_cipher));
        let ciphers: Vec<u16> = if written_ciphers.is_empty() {
            DEFAULT_CIPHERS.to_vec()
        } else {
            written_ciphers.iter().map(|&(c, _)| c).collect()
        };
        let rustls: Vec<u16> = ciphers
            .iter()
            .copied()
            .filter(|&c| {
                rustls_caps::supports_cipher(c)
                    && if ciphers::is_tls13(c) { protocols.tlsv1_3 } else { protocols.tlsv1_2 }
            })
            .collect();
        CipherLists { ciphers, rustls, environment }
    }
}

impl<'s> Resolver<'s, '_> {
    fn levels(
        &mut self,
        group: &'s Statement,
        env: Option<&'s Statement>,
        conn: Option<&'s Statement>,
    ) -> Result<Levels<'s>, ()> {
        Ok(Levels {
            group,
            group_adv: self.slot(Some(group), Kind::GroupAdvancedParms)?,
            env,
            env_adv: self.slot(env, Kind::EnvironmentAdvancedParms)?,
            env_cipher: self.slot(env, Kind::CipherParms)?,
            env_sig: self.slot(env, Kind::SignatureParms)?,
            keyring: self.slot(env, Kind::KeyringParms)?,
            gsk: self.slot(env, Kind::GskAdvancedParms)?,
            conn,
            conn_adv: self.slot(conn, Kind::ConnectionAdvancedParms)?,
            conn_cipher: self.slot(conn, Kind::CipherParms)?,
            conn_sig: self.slot(conn, Kind::SignatureParms)?,
        })
    }

    /// Checks that the actions hold what z/OS requires of them.
    fn required(&mut self, lv: &Levels<'s>) -> bool {
        let mut ok = self.required_group(lv.group);
        if let Some(env) = lv.env {
            ok &= self.required_env(env, lv.keyring);
        }
        ok && lv.env.is_none_or(|e| !e.broken) && !lv.group.broken && lv.conn.is_none_or(|c| !c.broken)
    }

    pub(super) fn required_group(&mut self, group: &'s Statement) -> bool {
        if group.param("TTLSEnabled").is_some() {
            return true;
        }
        let msg = format!("TTLSGroupAction {} has no TTLSEnabled", group.display_name());
        self.missing(group, msg, "add `TTLSEnabled On` or `TTLSEnabled Off`");
        false
    }

    pub(super) fn required_env(&mut self, env: &'s Statement, keyring: Option<&'s Statement>) -> bool {
        let mut ok = true;
        if env.param("HandshakeRole").is_none() {
            self.missing(
                env,
                format!("TTLSEnvironmentAction {} has no HandshakeRole", env.display_name()),
                "add `HandshakeRole Server`, `Client` or `ServerWithClientAuth` (required even when a connection action sets one)",
            );
            ok = false;
        }
        match keyring {
            None => {
                self.missing(
                    env,
                    format!("TTLSEnvironmentAction {} has no TTLSKeyringParms", env.display_name()),
                    "add a TTLSKeyringParms block with `Keyring PATH`, or `TTLSKeyringParmsRef NAME`",
                );
                ok = false;
            }
            Some(k) if k.param("Keyring").is_none() => {
                self.missing(
                    k,
                    match &k.name {
                        Some(n) => format!("TTLSKeyringParms {} has no Keyring", n.value),
                        None => "this TTLSKeyringParms block has no Keyring".to_string(),
                    },
                    "add `Keyring PATH` (a PEM file or directory, or a z/OS ring name mapped by KeyringMap)",
                );
                ok = false;
            }
            Some(_) => {}
        }
        ok
    }

    pub(super) fn settings(
        &mut self,
        group: &'s Statement,
        env: Option<&'s Statement>,
        conn: Option<&'s Statement>,
        rule: &str,
    ) -> Option<Settings> {
        let lv = self.levels(group, env, conn).ok()?;
        let http_cdp = http_cdp_settings(self.slot(lv.gsk, Kind::GskHttpCdpParms).ok()?);
        let ocsp = ocsp_settings(self.slot(lv.gsk, Kind::GskOcspParms).ok()?);
        if !self.required(&lv) {
            return None;
        }
        let role = handshake_role(env, conn);
        let protocols = protocols(&lv);
        let written_ciphers = cipher_list(lv.conn_cipher.or(lv.env_cipher));
        let ciphers = CipherLists::new(&lv, &written_ciphers, &protocols);
        let (groups, group_spans) = group_list(lv.conn_sig.or(lv.env_sig), role);
        let revocation = (http_cdp, ocsp);
        let settings = self.assemble(&lv, role, protocols, ciphers, groups, revocation);
        if settings.ttls_enabled && env.is_some() {
            if self.opts.warn_keyrings
                && let Some(k) = lv.keyring.and_then(|k| k.param("Keyring"))
            {
                self.keyring_warning(k);
            }
            if !self.tls_checks(rule, &lv, &settings, &written_ciphers, &group_spans) {
                return None;
            }
        }
        Some(settings)
    }

    /// The settings of a combination from its levels and what was already derived from them.
    fn assemble(
        &self,
        lv: &Levels<'s>,
        role: Option<Role>,
        protocols: Protocols,
        ciphers: CipherLists,
        groups: Option<Vec<u16>>,
        (http_cdp, ocsp): (HttpCdpSettings, OcspSettings),
    ) -> Settings {
        let groups_rustls = groups
            .as_ref()
            .map(|g| g.iter().copied().filter(|&g| rustls_caps::supports_group(g)).collect::<Vec<_>>());
        let keyring = lv.keyring.and_then(|k| k.param("Keyring"));
        let texts = |name: &str| lv.all_adv(name).iter().filter_map(|p| text(Some(p))).collect();
        Settings {
            ttls_enabled: on_off(lv.group.param("TTLSEnabled"), false),
            trace: int(lv.action_param("Trace"), 2) as u8,
            ctrace_clear_text: on_off(lv.action_param("CtraceClearText"), false),
            syslog_facility: word(lv.group_adv.and_then(|g| g.param("SyslogFacility"))).unwrap_or("Daemon"),
            handshake_role: role,
            client_auth_type: client_auth_type(lv),
            keyring: text(keyring),
            keyring_span: keyring.map(|p| p.value_span),
            keyring_dir: keyring
                .and_then(|p| self.sources.path(p.value_span.file).parent().map(|d| d.to_path_buf())),
            keyring_pw: text(lv.keyring.and_then(|k| k.param("KeyringPw"))),
            keyring_stash_file: text(lv.keyring.and_then(|k| k.param("KeyringStashFile"))),
            certificate_label: text(lv.adv("CertificateLabel")),
            protocols,
            ciphers: ciphers.ciphers,
            ciphers_rustls: ciphers.rustls,
            environment_ciphers: ciphers.environment,
            groups,
            groups_rustls,
            application_controlled: on_off(lv.adv("ApplicationControlled"), false),
            secondary_map: on_off(lv.adv("SecondaryMap"), false),
            fips140: word(lv.group.param("FIPS140")).is_some_and(|v| v != "Off"),
            handshake_timeout: int(lv.adv("HandshakeTimeout"), 10),
            reset_cipher_timer: int(lv.adv("ResetCipherTimer"), 0),
            client_handshake_sni: word(lv.adv("ClientHandshakeSNI")),
            client_handshake_sni_list: texts("ClientHandshakeSNIList"),
            host_reference_id_dns: texts("HostReferenceIdDNS"),
            server_certs: ServerCerts {
                labels: texts("ServerCertificateLabel"),
                sni: sni_mode(word(lv.adv("ServerHandshakeSNI"))),
                sni_match: sni_mode(word(lv.adv("ServerHandshakeSNIMatch"))),
                sni_list: texts("ServerHandshakeSNIList"),
            },
            revocation_level: match word(lv.gsk.and_then(|g| g.param("RevocationSecurityLevel"))) {
                Some("High") => RevocationLevel::High,
                Some("Low") => RevocationLevel::Low,
                _ => RevocationLevel::Medium,
            },
            http_cdp,
            ocsp,
            session: session_settings(lv.gsk),
            other: other_params(lv),
            written: WrittenActions {
                group: written(&[Some(lv.group), lv.group_adv]),
                environment: written(&[lv.env, lv.keyring, lv.env_cipher, lv.env_sig, lv.env_adv, lv.gsk]),
                connection: written(&[lv.conn, lv.conn_cipher, lv.conn_sig, lv.conn_adv]),
            },
        }
    }
}

/// HandshakeRole: the connection level's, else the environment's.
fn handshake_role(env: Option<&Statement>, conn: Option<&Statement>) -> Option<Role> {
    let role_param =
        conn.and_then(|c| c.param("HandshakeRole")).or_else(|| env.and_then(|e| e.param("HandshakeRole")));
    match word(role_param) {
        Some("Client") => Some(Role::Client),
        Some("Server") => Some(Role::Server),
        Some(_) => Some(Role::ServerWithClientAuth),
        None => None,
    }
}

fn protocols(lv: &Levels<'_>) -> Protocols {
    Protocols {
        sslv2: on_off(lv.adv("SSLv2"), false),
        sslv3: on_off(lv.adv("SSLv3"), false),
        tlsv1: on_off(lv.adv("TLSv1"), false),
        tlsv1_1: on_off(lv.adv("TLSv1.1"), false),
        tlsv1_2: on_off(lv.adv("TLSv1.2"), true),
        tlsv1_3: on_off(lv.adv("TLSv1.3"), true),
    }
}

fn client_auth_type(lv: &Levels<'_>) -> ClientAuthType {
    match word(lv.adv("ClientAuthType")) {
        Some("PassThru") => ClientAuthType::PassThru,
        Some("Full") => ClientAuthType::Full,
        Some("SAFCheck") => ClientAuthType::SafCheck,
        _ => ClientAuthType::Required,
    }
}

fn sni_mode(w: Option<&str>) -> SniMode {
    match w {
        Some("Required") => SniMode::Required,
        Some("Optional") => SniMode::Optional,
        _ => SniMode::Off,
    }
}

fn session_settings(gsk: Option<&Statement>) -> SessionSettings {
    let p = |name: &str| gsk.and_then(|g| g.param(name));
    let d = SessionSettings::default();
    SessionSettings {
        session_timeout: int(p("GSK_V3_SESSION_TIMEOUT"), d.session_timeout),
        sid_cache_size: int(p("GSK_V3_SIDCACHE_SIZE"), d.sid_cache_size),
        ticket_server_enable: on_off(p("GSK_SESSION_TICKET_SERVER_ENABLE"), d.ticket_server_enable),
        ticket_server_count: int(p("GSK_SESSION_TICKET_SERVER_COUNT"), d.ticket_server_count),
        ticket_server_timeout: int(p("GSK_SESSION_TICKET_SERVER_TIMEOUT"), d.ticket_server_timeout),
        ticket_server_key_refresh: int(
            p("GSK_SESSION_TICKET_SERVER_KEY_REFRESH"),
            d.ticket_server_key_refresh,
        ),
        ticket_client_enable: on_off(p("GSK_SESSION_TICKET_CLIENT_ENABLE"), d.ticket_client_enable),
    }
}

/// The TTLSGskHttpCdpParms block of the environment's TTLSGskAdvancedParms (inline or referenced).
fn http_cdp_settings(block: Option<&Statement>) -> HttpCdpSettings {
    let p = |name: &str| block.and_then(|b| b.param(name));
    let d = HttpCdpSettings::default();
    HttpCdpSettings {
        enable: on_off(p("HttpCdpEnable"), d.enable),
        cache_size: int(p("HttpCdpCacheSize"), d.cache_size),
        cache_entry_max_size: int(p("HttpCdpCacheEntryMaxsize"), d.cache_entry_max_size),
        max_response_size: int(p("HttpCdpMaxResponseSize"), d.max_response_size),
        response_timeout: int(p("HttpCdpResponseTimeout"), d.response_timeout),
    }
}

/// The TTLSGskOcspParms block of the environment's TTLSGskAdvancedParms (inline or referenced).
fn ocsp_settings(block: Option<&Statement>) -> OcspSettings {
    let p = |name: &str| block.and_then(|b| b.param(name));
    let d = OcspSettings::default();
    OcspSettings {
        aia_enable: on_off(p("OcspAiaEnable"), d.aia_enable),
        url: text(p("OcspUrl")).filter(|u| !u.is_empty()),
        url_priority: on_off(p("OcspUrlPriority"), d.url_priority),
        cache_size: int(p("OcspCliCacheSize").or(p("OcspClientCacheSize")), d.cache_size),
        cache_entry_max_size: int(p("OcspCliCacheEntryMaxsize"), d.cache_entry_max_size),
        max_response_size: int(p("OcspMaxResponseSize"), d.max_response_size),
        response_timeout: int(p("OcspResponseTimeout"), d.response_timeout),
        nonce_gen_enable: on_off(p("OcspNonceGenEnable"), d.nonce_gen_enable),
        nonce_check_enable: on_off(p("OcspNonceCheckEnable"), d.nonce_check_enable),
        nonce_size: int(p("OcspNonceSize"), d.nonce_size),
        server_stapling: on_off(p("OcspServerStapling"), d.server_stapling),
    }
}

/// The written cipher list (both keywords, in order of appearance, duplicates dropped keeping the
/// first, D6), each code with the span of the line that wrote it. Empty = not written.
pub(super) fn cipher_list(block: Option<&Statement>) -> Vec<(u16, Span)> {
    let mut codes: Vec<(u16, Span)> = Vec::new();
    for p in block.into_iter().flat_map(Statement::params) {
        if let Value::Ciphers(list) = &p.value {
            for &c in list {
                if !codes.iter().any(|&(x, _)| x == c) {
                    codes.push((c, p.value_span));
                }
            }
        }
    }
    codes
}

/// Each written group list with the span of its value.
pub(super) type GroupSpans = Vec<(Span, Vec<u16>)>;

/// The key-share groups for a role (D30): the role's KeyShareGroups then its ECurves; `None` when
/// unwritten or `Any`. Also each written list with its span, for warnings.
fn group_list(block: Option<&Statement>, role: Option<Role>) -> (Option<Vec<u16>>, GroupSpans) {
    let Some(b) = block else { return (None, Vec::new()) };
    let keys: [&str; 2] = match role {
        Some(Role::Client) => ["ClientKeyShareGroups", "ClientECurves"],
        _ => ["ServerKeyShareGroups", "ServerKexECurves"],
    };
    let mut out: Vec<u16> = Vec::new();
    let mut spans = Vec::new();
    for p in b.params().filter(|p| keys.contains(&p.def.name)) {
        match &p.value {
            Value::Groups(None) => return (None, Vec::new()),
            Value::Groups(Some(list)) => {
                spans.push((p.value_span, list.clone()));
                for g in list {
                    if !out.contains(g) {
                        out.push(*g);
                    }
                }
            }
            _ => {}
        }
    }
    if spans.is_empty() { (None, spans) } else { (Some(out), spans) }
}

impl Diagnostic {
    /// A grouped portability warning (the common shape of rustls-limit warnings).
    pub(super) fn rustls_limit(span: Span, message: String, hint: &str, group: &str) -> Self {
        Diagnostic::portability(span, message, hint).grouped(group)
    }
}
