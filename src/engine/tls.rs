//! Resolved policy settings to rustls configurations: protocol versions, cipher suites in the
//! policy's order (server preference, D6), key-exchange groups (D30), the certificate chosen by
//! `CertificateLabel`, client-certificate verification per `ClientAuthType`, session cache and
//! tickets (TTLSGskAdvancedParms). Built once per policy generation, before it is installed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{ClientConfig, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

use super::certs::ServerCertChooser;
use super::fips;
use super::revocation;
use super::sessions::{EnvSessions, SessionPool};
use crate::keyring::{self, Keyring};
use crate::policy::rustls_caps;
use crate::policy::table::{ClientAuthType, Role, Settings};

/// Why a rule's TLS configuration cannot be built (rendered at the rule's `Keyring` line).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("the environment action names no keyring")]
    NoKeyring,
    #[error("no HandshakeRole")]
    NoRole,
    #[error(
        "keyring `{0}` is a z/OS key ring name with no KeyringMap: add `KeyringMap {0} PATH` to the main configuration"
    )]
    UnmappedRing(String),
    #[error("KeyringStashFile {0}")]
    StashFile(keyring::KeyringError),
    #[error(transparent)]
    Keyring(#[from] keyring::KeyringError),
    #[error("TLS settings rustls refuses: {0}")]
    Versions(rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(String),
    #[error("certificate `{label}` from {source_file}: {error}")]
    Certificate { label: String, source_file: String, error: rustls::Error },
    #[error("{0} ServerCertificateLabel values; at most {max}", max = super::certs::MAX_SERVER_LABELS)]
    ServerLabels(usize),
    #[error("ServerHandshakeSNIList `{0}`: expected NAME/LABEL")]
    SniList(String),
    #[error("client certificate `{label}`: {error}")]
    ClientCertificate { label: String, error: rustls::Error },
    #[error("FIPS140: {0}")]
    Fips(String),
}

/// The TLS side of one rule's settings.
#[derive(Debug)]
pub struct TlsEnv {
    pub server: Option<Arc<ServerConfig>>,
    pub client: Option<Arc<ClientConfig>>,
    /// Its resumable sessions (kept across refreshes while the environment is unchanged).
    pub sessions: Option<Arc<EnvSessions>>,
}

/// Where keyrings come from (D10): `KeyringMap` names, the dev keyring, and a cache so a keyring
/// shared by many rules is read once per generation.
pub struct Keyrings<'a> {
    pub map: &'a [(String, PathBuf)],
    /// Generated when a policy uses it and it does not exist.
    pub dev: Option<&'a Path>,
    cache: HashMap<PathBuf, Arc<Keyring>>,
}

impl<'a> Keyrings<'a> {
    /// Every keyring path opened so far (watched for changes by the agent).
    pub fn opened(&self) -> Vec<PathBuf> {
        self.cache.keys().cloned().collect()
    }

    pub fn new(map: &'a [(String, PathBuf)], dev: Option<&'a Path>) -> Self {
        Keyrings { map, dev, cache: HashMap::new() }
    }

    /// D10 order: a KeyringMap name, an absolute path, a `./` or `../` path relative to the policy
    /// file that wrote it.
    pub fn resolve(&self, ring: &str, policy_dir: Option<&Path>) -> Result<PathBuf, TlsSetupError> {
        if let Some((_, p)) = self.map.iter().find(|(n, _)| n == ring) {
            return Ok(p.clone());
        }
        if ring.starts_with('/') {
            return Ok(PathBuf::from(ring));
        }
        if ring.starts_with("./") || ring.starts_with("../") {
            return Ok(policy_dir.unwrap_or(Path::new(".")).join(ring));
        }
        Err(TlsSetupError::UnmappedRing(ring.to_string()))
    }

    pub fn open(
        &mut self,
        ring: &str,
        policy_dir: Option<&Path>,
        password: Option<&str>,
    ) -> Result<Arc<Keyring>, TlsSetupError> {
        let path = self.resolve(ring, policy_dir)?;
        if let Some(k) = self.cache.get(&path) {
            return Ok(k.clone());
        }
        if self.dev == Some(path.as_path()) {
            keyring::ensure_dev_keyring(&path)?;
        }
        let k = Arc::new(keyring::load(&path, password)?);
        self.cache.insert(path, k.clone());
        Ok(k)
    }
}

/// An error about a rule's keyring or TLS settings in the D11 shape (at the `Keyring` line when
/// known), rendered. Rules sharing a keyring get the same text, so callers can report it once.
pub fn keyring_diagnostic(
    rule: &str,
    s: &Settings,
    error: &TlsSetupError,
    sources: &crate::policy::SourceMap,
) -> String {
    use crate::policy::{Diagnostic, Diagnostics};
    let Some(span) = s.keyring_span else { return format!("error: TTLSRule {rule}: {error}\n") };
    let mut d = Diagnostics::default();
    d.push(Diagnostic::error(
        span,
        format!("this keyring cannot be used: {error}"),
        "fix the keyring, or map the name with `KeyringMap NAME PATH` in the main configuration (D10)",
    ));
    d.render(sources)
}

/// A provider limited to the rule's cipher suites (in policy order) and key-exchange groups, and
/// to the approved ones when the rule needs FIPS.
fn provider_for(s: &Settings) -> Result<CryptoProvider, TlsSetupError> {
    let base = rustls_caps::provider();
    let mut p = base.clone();
    p.cipher_suites = s
        .ciphers_rustls
        .iter()
        .filter_map(|&c| base.cipher_suites.iter().find(|cs| u16::from(cs.suite()) == c).copied())
        .collect();
    if let Some(groups) = &s.groups_rustls {
        p.kx_groups = groups
            .iter()
            .filter_map(|&g| base.kx_groups.iter().find(|k| u16::from(k.name()) == g).copied())
            .collect();
    }
    if s.fips_enforced() {
        fips::restrict(&mut p).map_err(TlsSetupError::Fips)?;
    }
    Ok(p)
}

fn versions(s: &Settings) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut v = Vec::new();
    if s.protocols.tlsv1_3 {
        v.push(&rustls::version::TLS13);
    }
    if s.protocols.tlsv1_2 {
        v.push(&rustls::version::TLS12);
    }
    v
}

/// Builds the TLS configurations for one rule's settings (TLS-enabled rules only), with the
/// session state `pool` holds for its environment.
pub fn build(
    s: &Settings,
    keyrings: &mut Keyrings<'_>,
    pool: &mut SessionPool,
) -> Result<TlsEnv, TlsSetupError> {
    let ring = s.keyring.as_deref().ok_or(TlsSetupError::NoKeyring)?;
    let (pw, stash) = (s.keyring_pw.as_deref(), s.keyring_stash_file.as_deref());
    let password =
        keyring::password_for(pw, stash, s.keyring_dir.as_deref()).map_err(TlsSetupError::StashFile)?;
    let keyring = keyrings.open(ring, s.keyring_dir.as_deref(), password.as_deref())?;
    let provider = Arc::new(provider_for(s)?);
    let versions = versions(s);
    let role = s.handshake_role.ok_or(TlsSetupError::NoRole)?;
    let sessions = pool.for_env(s, &keyring);
    let (server, client) = if role == Role::Client {
        let config = match sessions.client_config.get() {
            Some(kept) => kept.clone(),
            None => Arc::new(client_config(s, &keyring, provider, &versions, &sessions)?),
        };
        if s.fips_enforced() {
            fips::check(config.fips()).map_err(TlsSetupError::Fips)?;
        }
        let _ = sessions.client_config.set(config.clone());
        (None, Some(config))
    } else {
        let config = server_config(s, role, &keyring, provider, &versions, &sessions)?;
        if s.fips_enforced() {
            fips::check(config.fips()).map_err(TlsSetupError::Fips)?;
        }
        (Some(Arc::new(config)), None)
    };
    Ok(TlsEnv { server, client, sessions: Some(sessions) })
}

fn server_config(
    s: &Settings,
    role: Role,
    keyring: &Keyring,
    provider: Arc<CryptoProvider>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    sessions: &EnvSessions,
) -> Result<ServerConfig, TlsSetupError> {
    let certs = Arc::new(ServerCertChooser::new(s, keyring, &provider)?);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(TlsSetupError::Versions)?;
    let builder = if role == Role::ServerWithClientAuth {
        let roots = Arc::new(keyring.root_store()?);
        let verifier: Arc<dyn ClientCertVerifier> = match s.client_auth_type {
            ClientAuthType::PassThru => {
                Arc::new(PassThru { provider: provider.clone(), roots_subjects: roots.subjects() })
            }
            ClientAuthType::Full => revocation::client_verifier(roots, provider.clone(), s, keyring, true)
                .map_err(TlsSetupError::Verifier)?,
            ClientAuthType::Required | ClientAuthType::SafCheck => {
                revocation::client_verifier(roots, provider.clone(), s, keyring, false)
                    .map_err(TlsSetupError::Verifier)?
            }
        };
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_cert_resolver(certs);
    config.ignore_client_order = true;
    apply_sessions(&mut config, sessions, s.session.ticket_server_count as usize);
    Ok(config)
}

fn client_config(
    s: &Settings,
    keyring: &Keyring,
    provider: Arc<CryptoProvider>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    sessions: &EnvSessions,
) -> Result<ClientConfig, TlsSetupError> {
    let roots = Arc::new(keyring.root_store()?);
    let verifier =
        revocation::server_verifier(roots, provider.clone(), s, keyring).map_err(TlsSetupError::Verifier)?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(TlsSetupError::Versions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    // A keyed certificate in the keyring is offered when the server asks for one.
    let mut config = match keyring.identity(s.certificate_label.as_deref()) {
        Ok(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .map_err(|error| TlsSetupError::ClientCertificate { label: id.label.clone(), error })?,
        Err(_) => builder.with_no_client_auth(),
    };
    config.enable_sni = s.client_handshake_sni != Some("Off");
    config.resumption = if s.session.ticket_client_enable {
        rustls::client::Resumption::store(sessions.client.clone())
    } else {
        rustls::client::Resumption::disabled()
    };
    Ok(config)
}

/// A server configuration's session cache and ticketer from `sessions` (no TLS 1.3 tickets sent
/// when tickets are off).
pub fn apply_sessions(config: &mut ServerConfig, sessions: &EnvSessions, tls13_tickets: usize) {
    config.session_storage = sessions.cache.clone();
    match &sessions.ticketer {
        // FIPS: ticket keys are sealed outside the FIPS module, so TLS 1.3 tickets are stateful
        // (ids of the session cache) and TLS 1.2 resumes by session id (docs/fips.md).
        Some(_) if config.fips() => config.send_tls13_tickets = tls13_tickets,
        Some(t) => {
            config.ticketer = t.clone();
            config.send_tls13_tickets = tls13_tickets;
        }
        None => config.send_tls13_tickets = 0,
    }
}

/// ClientAuthType PassThru: ask for a certificate and accept it unvalidated (the handshake
/// signature is still checked, so the client holds the key).
#[derive(Debug)]
struct PassThru {
    provider: Arc<CryptoProvider>,
    roots_subjects: Vec<DistinguishedName>,
}

impl ClientCertVerifier for PassThru {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.roots_subjects
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
