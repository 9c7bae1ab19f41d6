//! The control channels of live application-controlled connections, by ConnID, owned by the engine:
//! the control socket reaches a connection's task through a [`ConnHandle`] (start TLS, stop it, new
//! keys), and the registry stays pure data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::errno::Errno;
use crate::registry::{ConnId, ConnStatus};

/// How many requests may queue for one connection's task.
const QUEUE: usize = 4;

/// A control request that failed: the z/OS errno and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{errno}: {message}")]
pub struct Refusal {
    pub errno: Errno,
    pub message: String,
}

impl Refusal {
    pub fn new(errno: Errno, message: impl Into<String>) -> Refusal {
        Refusal { errno, message: message.into() }
    }
}

/// The outcome of a control request that succeeded.
#[derive(Debug, Clone)]
pub struct Done {
    pub conn_status: ConnStatus,
    /// Why an `init` with `allow_hstimeout` left the connection clear.
    pub note: Option<String>,
}

pub(super) type Reply = oneshot::Sender<Result<Done, Refusal>>;

/// A request from the control socket to the connection's task.
#[derive(Debug)]
pub(super) enum Control {
    /// Start TLS after `written` application bytes (or now); replies when the handshake is done.
    Init { written: Option<u64>, allow_hstimeout: bool, reply: Reply },
    /// close_notify after `written` application bytes (or now), then carry on in clear.
    Stop { written: Option<u64>, reply: Reply },
    /// New traffic keys (TLS 1.3 KeyUpdate, update requested).
    ResetCipher { reply: Reply },
}

/// Every open control channel.
#[derive(Debug, Default)]
pub struct Controls {
    channels: Mutex<HashMap<ConnId, mpsc::Sender<Control>>>,
}

/// A connection's entry in [`Controls`]; removed when dropped.
pub(super) struct Opened {
    controls: Arc<Controls>,
    id: ConnId,
}

impl Drop for Opened {
    fn drop(&mut self) {
        self.controls.lock().remove(&self.id);
    }
}

impl Controls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConnId, mpsc::Sender<Control>>> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens connection `id`'s channel: its task reads the receiver for as long as it holds both.
    pub(super) fn open(self: &Arc<Self>, id: ConnId) -> (Opened, mpsc::Receiver<Control>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        self.lock().insert(id, tx);
        (Opened { controls: self.clone(), id }, rx)
    }

    /// The handle of connection `id`, if it is relaying under application control.
    pub fn handle(&self, id: ConnId) -> Option<ConnHandle> {
        self.lock().get(&id).cloned().map(|tx| ConnHandle { id, tx })
    }
}

/// What the control socket may ask of one application-controlled connection.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    id: ConnId,
    tx: mpsc::Sender<Control>,
}

impl ConnHandle {
    /// Starts TLS now, or after `written` application bytes.
    pub async fn init(&self, written: Option<u64>, allow_hstimeout: bool) -> Result<Done, Refusal> {
        self.ask(|reply| Control::Init { written, allow_hstimeout, reply }).await
    }

    /// Back to clear now, or after `written` application bytes.
    pub async fn stop(&self, written: Option<u64>) -> Result<Done, Refusal> {
        self.ask(|reply| Control::Stop { written, reply }).await
    }

    /// New traffic keys (TLS 1.3 KeyUpdate).
    pub async fn reset_cipher(&self) -> Result<Done, Refusal> {
        self.ask(|reply| Control::ResetCipher { reply }).await
    }

    async fn ask(&self, request: impl FnOnce(Reply) -> Control) -> Result<Done, Refusal> {
        let closed = || Refusal::new(Errno::Enotconn, format!("connection {} has closed", self.id));
        let (reply, answer) = oneshot::channel();
        self.tx.send(request(reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}
