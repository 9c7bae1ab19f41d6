//! The resumed-after-refresh phase's tools (attls only): a client session store that, once frozen,
//! offers only the sessions taken before the refresh, and the refresh itself: the policy file
//! written again (beside it, then renamed over it) with an unrelated change (a comment, and a rule
//! with an environment of its own that no connection of the bench matches), the reload of pagent's
//! file watcher waited for, then `pagent refresh -c CONFIG` run and its answer awaited.
//!
//! Why a store of its own: the client of the Resumed phase replaces every session it uses with the
//! one the server hands out on that connection, so after a refresh that drops the ticket keys only
//! its first few handshakes would be full ones and the share would hide the loss. Here every
//! measured handshake offers a session taken before the refresh: TLS 1.3, one ticket each (tickets
//! are single-use), from a pool filled by full handshakes; TLS 1.2, the one session (ticket, else
//! session ID) of the last priming handshake, offered by every attempt. Sessions handed out after
//! the freeze are dropped.

use std::fmt;
use std::fs;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rustls::NamedGroup;
use rustls::client::{ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue};
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::START;
use crate::client::{Clients, handshakes, one_handshake};
use crate::proxies::{Proxy, pagent_exe};

/// How long the bench waits for the file watcher's reload (it reloads once the file has been
/// still for two looks 200 ms apart).
const WATCHER: Duration = Duration::from_secs(3);

/// Sessions of one server (the store belongs to one proxy's client). Until `freeze` it offers
/// nothing (so every priming handshake is a full one and brings new sessions) and keeps what it is
/// given; after it, it offers what it kept and keeps nothing more.
#[derive(Default)]
pub struct PreRefreshStore {
    frozen: AtomicBool,
    tls13: Mutex<Vec<Tls13ClientSessionValue>>,
    tls12: Mutex<Option<Tls12ClientSessionValue>>,
    kx: Mutex<Option<NamedGroup>>,
}

impl fmt::Debug for PreRefreshStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PreRefreshStore({} sessions, frozen {})", self.sessions(), self.is_frozen())
    }
}

impl PreRefreshStore {
    fn is_frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }

    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// How many resumption attempts the kept sessions serve: TLS 1.3 tickets are used once, the
    /// TLS 1.2 session by every attempt.
    fn sessions(&self) -> usize {
        if self.tls12.lock().expect("lock").is_some() {
            return usize::MAX;
        }
        self.tls13.lock().expect("lock").len()
    }
}

impl ClientSessionStore for PreRefreshStore {
    fn set_kx_hint(&self, _: ServerName<'static>, group: NamedGroup) {
        *self.kx.lock().expect("lock") = Some(group);
    }

    fn kx_hint(&self, _: &ServerName<'_>) -> Option<NamedGroup> {
        *self.kx.lock().expect("lock")
    }

    fn set_tls12_session(&self, _: ServerName<'static>, value: Tls12ClientSessionValue) {
        if !self.is_frozen() {
            *self.tls12.lock().expect("lock") = Some(value);
        }
    }

    fn tls12_session(&self, _: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        if !self.is_frozen() {
            return None;
        }
        self.tls12.lock().expect("lock").clone()
    }

    fn remove_tls12_session(&self, _: &ServerName<'static>) {
        if !self.is_frozen() {
            *self.tls12.lock().expect("lock") = None;
        }
    }

    fn insert_tls13_ticket(&self, _: ServerName<'static>, value: Tls13ClientSessionValue) {
        if !self.is_frozen() {
            self.tls13.lock().expect("lock").push(value);
        }
    }

    fn take_tls13_ticket(&self, _: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        if !self.is_frozen() {
            return None;
        }
        self.tls13.lock().expect("lock").pop()
    }
}

/// A client whose store holds sessions for `n` resumption attempts, taken now with full
/// handshakes; the store is returned unfrozen.
pub async fn take_sessions(
    clients: &Clients,
    addr: SocketAddr,
    n: usize,
) -> Result<(TlsConnector, Arc<PreRefreshStore>), String> {
    let store = Arc::new(PreRefreshStore::default());
    let tls = clients.with_store(store.clone());
    one_handshake(&tls, addr).await?;
    let per_handshake = store.sessions();
    if per_handshake == 0 {
        return Err("the proxy handed out no session to resume".into());
    }
    for _ in 0..5 {
        let have = store.sessions();
        if have >= n {
            return Ok((tls, store));
        }
        handshakes(tls.clone(), addr, (n - have).div_ceil(per_handshake)).await?;
    }
    Err(format!("only {} sessions for {n} attempts after priming", store.sessions()))
}

/// Writes the policy again with an unrelated change, waits (bounded) for the watcher's reload,
/// then runs `pagent refresh -c CONFIG` and waits for its answer. Returns what happened, e.g.
/// `watcher reload, then generation 3`.
pub fn refresh_agent(proxy: &mut Proxy) -> Result<String, String> {
    let log = proxy.log().to_path_buf();
    let files = proxy.attls.as_mut().ok_or("only attls has a refresh")?;
    files.refreshes += 1;
    let k = files.refreshes;
    let text = format!(
        "{}\n# bench-peers: refresh {k}, an unrelated change\nTTLSRule unrelated~{k}\n{{\n  Jobname UNRELATED*\n  \
         Direction Outbound\n  TTLSGroupActionRef gPeers\n  TTLSEnvironmentActionRef eUnrelated\n}}\n\
         TTLSEnvironmentAction eUnrelated\n{{\n  HandshakeRole Client\n  TTLSKeyringParms\n  {{\n    Keyring {}\n  \
         }}\n}}\n",
        files.text,
        files.keyring.display()
    );
    let offset = fs::metadata(&log).map_or(0, |m| m.len()) as usize;
    let tmp = files.policy.with_extension("pol.new");
    fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    fs::rename(&tmp, &files.policy).map_err(|e| format!("{}: {e}", files.policy.display()))?;
    let watched = watcher_reload(&log, offset)?;
    let generation = pagent_refresh(&files.conf)?;
    Ok(match watched {
        true => format!("watcher reload, then generation {generation}"),
        false => format!("no watcher reload logged within {WATCHER:?}; generation {generation}"),
    })
}

/// Waits for `policy loaded` in the log past `offset`; false if it did not come within `WATCHER`
/// (no watcher, or a log level above info).
fn watcher_reload(log: &std::path::Path, offset: usize) -> Result<bool, String> {
    let deadline = Instant::now() + WATCHER;
    loop {
        let bytes = fs::read(log).unwrap_or_default();
        let new = String::from_utf8_lossy(bytes.get(offset..).unwrap_or_default());
        if new.contains("policy not installed") {
            return Err(format!("the changed policy was refused:\n{}", new.trim_end()));
        }
        if new.contains("policy loaded") {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `pagent refresh -c CONFIG` (the agent answers once the new generation is installed); the
/// generation it reports.
fn pagent_refresh(conf: &std::path::Path) -> Result<String, String> {
    let mut cmd = Command::new(pagent_exe());
    cmd.arg("refresh").arg("-c").arg(conf);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(cmd.output());
    });
    let out = rx
        .recv_timeout(START)
        .map_err(|_| format!("pagent refresh: no answer within {START:?}"))?
        .map_err(|e| format!("pagent refresh: {e}"))?;
    let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        return Err(format!("pagent refresh: {} ({said})", out.status));
    }
    Ok(said.rsplit_once("generation ").map_or(said.clone(), |(_, g)| g.to_string()))
}
