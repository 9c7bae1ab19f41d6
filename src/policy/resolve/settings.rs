//! Effective settings of one (group, environment, connection) combination: each setting from the
//! connection level, else the environment level, else the group, else the documented default
//! (docs/policy-reference.md#levels-and-precedence, D5); cipher and signature parms are replaced
//! whole by the connection level.

use super::super::ast::{Item, ParamItem, Statement, Value};
use super::super::catalog::{Kind, ValueType};
use super::super::rustls_caps;
use super::super::source::Span;
use super::super::table::{ClientAuthType, Protocols, Role, SessionSettings, Settings, WrittenActions};
use super::super::{ciphers, diag::Diagnostic};
use super::{Resolver, int, on_off, text, word};

/// D15: the list used when no TTLSCipherParms is written at any level.
pub const DEFAULT_CIPHERS: [u16; 9] =
    [0x1302, 0x1301, 0x1303, 0xC02C, 0xC02B, 0xCCA9, 0xC030, 0xC02F, 0xCCA8];

/// Parameters that have a column of their own in reports; everything else written lands in `other`.
const CONSUMED: &[&str] = &[
    "TTLSEnabled",
    "Trace",
    "CtraceClearText",
    "SyslogFacility",
    "HandshakeRole",
    "ClientAuthType",
    "Keyring",
    "KeyringPw",
    "KeyringStashFile",
    "CertificateLabel",
    "SSLv2",
    "SSLv3",
    "TLSv1",
    "TLSv1.1",
    "TLSv1.2",
    "TLSv1.3",
    "V3CipherSuites",
    "V3CipherSuites4Char",
    "ApplicationControlled",
    "SecondaryMap",
    "HandshakeTimeout",
    "ResetCipherTimer",
    "ClientHandshakeSNI",
    "ClientHandshakeSNIList",
    "HostReferenceIdDNS",
    "ClientECurves",
    "ClientKeyShareGroups",
    "ServerKexECurves",
    "ServerKeyShareGroups",
    "GSK_V3_SESSION_TIMEOUT",
    "GSK_V3_SIDCACHE_SIZE",
    "GSK_SESSION_TICKET_SERVER_ENABLE",
    "GSK_SESSION_TICKET_SERVER_COUNT",
    "GSK_SESSION_TICKET_SERVER_TIMEOUT",
    "GSK_SESSION_TICKET_SERVER_KEY_REFRESH",
    "GSK_SESSION_TICKET_CLIENT_ENABLE",
];

/// The blocks of one combination, found through inline blocks or references.
pub(super) struct Levels<'s> {
    pub group: &'s Statement,
    pub group_adv: Option<&'s Statement>,
    pub env: Option<&'s Statement>,
    pub env_adv: Option<&'s Statement>,
    pub env_cipher: Option<&'s Statement>,
    pub env_sig: Option<&'s Statement>,
    pub keyring: Option<&'s Statement>,
    pub gsk: Option<&'s Statement>,
    pub conn: Option<&'s Statement>,
    pub conn_adv: Option<&'s Statement>,
    pub conn_cipher: Option<&'s Statement>,
    pub conn_sig: Option<&'s Statement>,
}

impl<'s> Levels<'s> {
    /// An advanced parameter: connection level, else environment level.
    pub fn adv(&self, name: &str) -> Option<&'s ParamItem> {
        self.conn_adv.and_then(|b| b.param(name)).or_else(|| self.env_adv.and_then(|b| b.param(name)))
    }
    /// A multi-valued advanced parameter: every line of the level that writes it.
    fn all_adv(&self, name: &str) -> Vec<&'s ParamItem> {
        let from = |b: Option<&'s Statement>| {
            b.map(|b| b.params().filter(|p| p.def.name == name).collect::<Vec<_>>()).unwrap_or_default()
        };
        let conn = from(self.conn_adv);
        if conn.is_empty() { from(self.env_adv) } else { conn }
    }
    /// A parameter of the actions themselves (Trace, CtraceClearText): connection, environment, group.
    fn action_param(&self, name: &str) -> Option<&'s ParamItem> {
        [self.conn, self.env, Some(self.group)].into_iter().flatten().find_map(|b| b.param(name))
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
        if !self.required(&lv) {
            return None;
        }
        let ttls_enabled = on_off(group.param("TTLSEnabled"), false);
        let role_param = conn
            .and_then(|c| c.param("HandshakeRole"))
            .or_else(|| env.and_then(|e| e.param("HandshakeRole")));
        let role = match word(role_param) {
            Some("Client") => Some(Role::Client),
            Some("Server") => Some(Role::Server),
            Some(_) => Some(Role::ServerWithClientAuth),
            None => None,
        };
        let protocols = Protocols {
            sslv2: on_off(lv.adv("SSLv2"), false),
            sslv3: on_off(lv.adv("SSLv3"), false),
            tlsv1: on_off(lv.adv("TLSv1"), false),
            tlsv1_1: on_off(lv.adv("TLSv1.1"), false),
            tlsv1_2: on_off(lv.adv("TLSv1.2"), true),
            tlsv1_3: on_off(lv.adv("TLSv1.3"), true),
        };
        let or_default = |list: Vec<(u16, Span)>| -> Vec<u16> {
            if list.is_empty() { DEFAULT_CIPHERS.to_vec() } else { list.iter().map(|&(c, _)| c).collect() }
        };
        let environment_ciphers = or_default(cipher_list(lv.env_cipher));
        let written_ciphers = cipher_list(lv.conn_cipher.or(lv.env_cipher));
        let ciphers: Vec<u16> = if written_ciphers.is_empty() {
            DEFAULT_CIPHERS.to_vec()
        } else {
            written_ciphers.iter().map(|&(c, _)| c).collect()
        };
        let ciphers_rustls: Vec<u16> = ciphers
            .iter()
            .copied()
            .filter(|&c| {
                rustls_caps::supports_cipher(c)
                    && if ciphers::is_tls13(c) { protocols.tlsv1_3 } else { protocols.tlsv1_2 }
            })
            .collect();
        let (groups, group_spans) = group_list(lv.conn_sig.or(lv.env_sig), role);
        let groups_rustls = groups
            .as_ref()
            .map(|g| g.iter().copied().filter(|&g| rustls_caps::supports_group(g)).collect::<Vec<_>>());
        let client_auth_type = match word(lv.adv("ClientAuthType")) {
            Some("PassThru") => ClientAuthType::PassThru,
            Some("Full") => ClientAuthType::Full,
            Some("SAFCheck") => ClientAuthType::SafCheck,
            _ => ClientAuthType::Required,
        };
        let settings = Settings {
            ttls_enabled,
            trace: int(lv.action_param("Trace"), 2) as u8,
            ctrace_clear_text: on_off(lv.action_param("CtraceClearText"), false),
            syslog_facility: word(lv.group_adv.and_then(|g| g.param("SyslogFacility"))).unwrap_or("Daemon"),
            handshake_role: role,
            client_auth_type,
            keyring: text(lv.keyring.and_then(|k| k.param("Keyring"))),
            keyring_span: lv.keyring.and_then(|k| k.param("Keyring")).map(|p| p.value_span),
            keyring_dir: lv
                .keyring
                .and_then(|k| k.param("Keyring"))
                .and_then(|p| self.sources.path(p.value_span.file).parent().map(|d| d.to_path_buf())),
            keyring_pw: text(lv.keyring.and_then(|k| k.param("KeyringPw"))),
            keyring_stash_file: text(lv.keyring.and_then(|k| k.param("KeyringStashFile"))),
            certificate_label: text(lv.adv("CertificateLabel")),
            protocols,
            ciphers,
            ciphers_rustls,
            environment_ciphers,
            groups,
            groups_rustls,
            application_controlled: on_off(lv.adv("ApplicationControlled"), false),
            secondary_map: on_off(lv.adv("SecondaryMap"), false),
            handshake_timeout: int(lv.adv("HandshakeTimeout"), 10),
            reset_cipher_timer: int(lv.adv("ResetCipherTimer"), 0),
            client_handshake_sni: word(lv.adv("ClientHandshakeSNI")),
            client_handshake_sni_list: lv
                .all_adv("ClientHandshakeSNIList")
                .iter()
                .filter_map(|p| text(Some(p)))
                .collect(),
            host_reference_id_dns: lv
                .all_adv("HostReferenceIdDNS")
                .iter()
                .filter_map(|p| text(Some(p)))
                .collect(),
            session: session_settings(lv.gsk),
            other: other_params(&lv),
            written: WrittenActions {
                group: written(&[Some(lv.group), lv.group_adv]),
                environment: written(&[lv.env, lv.keyring, lv.env_cipher, lv.env_sig, lv.env_adv, lv.gsk]),
                connection: written(&[lv.conn, lv.conn_cipher, lv.conn_sig, lv.conn_adv]),
            },
        };
        if ttls_enabled && env.is_some() {
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

/// The parameters written in these blocks (and the GSK children of a TTLSGskAdvancedParms), in
/// order; references and `KeyringPw` left out.
fn written(blocks: &[Option<&Statement>]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<&Statement> = blocks.iter().rev().flatten().copied().collect();
    while let Some(b) = stack.pop() {
        for item in &b.items {
            match item {
                Item::Param(p) if matches!(p.def.ty, ValueType::Ref(_)) || p.def.name == "KeyringPw" => {}
                Item::Param(p) => out.push((p.def.name.to_string(), p.raw.clone())),
                Item::Block(c)
                    if matches!(c.kind, Kind::GskLdapParms | Kind::GskOcspParms | Kind::GskHttpCdpParms) =>
                {
                    stack.push(c)
                }
                Item::Block(_) => {}
            }
        }
    }
    out
}

/// Every written parameter without a column of its own (connection level wins), sorted by keyword.
fn other_params(lv: &Levels<'_>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let blocks = [
        lv.conn,
        lv.conn_adv,
        lv.conn_cipher,
        lv.conn_sig,
        lv.env,
        lv.env_adv,
        lv.env_cipher,
        lv.env_sig,
        lv.gsk,
        Some(lv.group),
        lv.group_adv,
    ];
    let mut seen_blocks: Vec<*const Statement> = Vec::new();
    for b in blocks.into_iter().flatten() {
        if seen_blocks.contains(&(b as *const _)) {
            continue;
        }
        seen_blocks.push(b);
        let mut stack = vec![b];
        while let Some(s) = stack.pop() {
            let mut own: Vec<(String, String)> = Vec::new();
            for item in &s.items {
                match item {
                    Item::Param(p)
                        if CONSUMED.contains(&p.def.name) || matches!(p.def.ty, ValueType::Ref(_)) => {}
                    Item::Param(p) => match own.iter_mut().find(|(k, _)| k == p.def.name) {
                        Some((_, v)) => {
                            v.push(' ');
                            v.push_str(&p.raw);
                        }
                        None => own.push((p.def.name.to_string(), p.raw.clone())),
                    },
                    // GSK children (LDAP, OCSP, HTTP CDP) are shown too; the other inline blocks are
                    // levels of their own and are in `blocks`.
                    Item::Block(child)
                        if matches!(
                            child.kind,
                            Kind::GskLdapParms | Kind::GskOcspParms | Kind::GskHttpCdpParms
                        ) =>
                    {
                        stack.push(child)
                    }
                    Item::Block(_) => {}
                }
            }
            for (k, v) in own {
                if !out.iter().any(|(o, _)| *o == k) {
                    out.push((k, v));
                }
            }
        }
    }
    out.sort();
    out
}

impl Diagnostic {
    /// A grouped portability warning (the common shape of rustls-limit warnings).
    pub(super) fn rustls_limit(span: Span, message: String, hint: &str, group: &str) -> Self {
        Diagnostic::portability(span, message, hint).grouped(group)
    }
}
