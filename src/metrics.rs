//! Prometheus metrics (`MetricsListen ADDR:PORT`, docs/metrics.md): an [`Exporter`] bound with the
//! agent's other sockets (a bind failure is a start error) serves `GET /metrics` over a small
//! bounded HTTP/1.1 server ([`http`]). One task counts ended connections from the registry's
//! bounded ended-connection queue (a connection never waits for it; a full queue drops records and
//! counts them); everything else is read at scrape time (`families`).
//!
//! The engine knows nothing of this module: the agent hands the exporter the registry, its
//! generation cell and its reload counts.

mod exposition;
mod families;
pub mod http;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::info;

use crate::engine::generation::Generation;
use crate::registry::{Ended, EndedFeed, Registry};
use exposition::Format;
use families::{Families, Scrape};

/// Ended-connection records the queue to the counting task holds before it drops.
pub const ENDED_QUEUE: usize = 4096;

/// The path scrapes get.
pub const PATH: &str = "/metrics";

/// Reload outcomes after startup, kept by the agent (with or without metrics).
#[derive(Debug, Default)]
pub struct RefreshCounts {
    succeeded: AtomicU64,
    failed: AtomicU64,
}

impl RefreshCounts {
    /// Counts one reload attempt.
    pub fn count(&self, installed: bool) {
        let n = if installed { &self.succeeded } else { &self.failed };
        n.fetch_add(1, Ordering::Relaxed);
    }
    pub fn succeeded(&self) -> u64 {
        self.succeeded.load(Ordering::Relaxed)
    }
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

/// What the exporter reads of the agent.
#[derive(Debug)]
pub struct Sources {
    pub connections: Arc<Registry>,
    pub generations: watch::Receiver<Arc<Generation>>,
    pub refreshes: Arc<RefreshCounts>,
    /// The configured listeners' names.
    pub listeners: Vec<String>,
}

/// A bound metrics endpoint, not serving yet.
#[derive(Debug)]
pub struct Exporter {
    socket: TcpListener,
    addr: SocketAddr,
    feed: EndedFeed,
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    families: Families,
    sources: Sources,
}

impl Exporter {
    /// Binds `addr` and subscribes to ended connections, so none that ends from now on is missed.
    pub async fn bind(addr: SocketAddr, sources: Sources) -> std::io::Result<Exporter> {
        let socket = TcpListener::bind(addr).await?;
        let addr = socket.local_addr()?;
        let feed = sources.connections.subscribe_ended(ENDED_QUEUE);
        let state = Arc::new(State { families: Families::default(), sources });
        Ok(Exporter { socket, addr, feed, state })
    }

    /// The bound address (a `:0` port resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counts ended connections and answers scrapes, in tasks of the current runtime.
    pub fn serve(self) {
        let EndedFeed { records, dropped } = self.feed;
        tokio::spawn(count_ended(records, self.state.clone()));
        let state = self.state;
        let render: http::Render = Arc::new(move |accept: Option<&str>| {
            let format = Format::negotiate(accept);
            let generation = state.sources.generations.borrow().clone();
            let scrape = Scrape {
                connections: &state.sources.connections,
                generation: generation.id,
                certificates: &generation.certificate_expiry,
                listeners: &state.sources.listeners,
                refreshes: &state.sources.refreshes,
                dropped: dropped.load(Ordering::Relaxed),
            };
            http::Page { content_type: format.content_type(), body: state.families.render(&scrape, format) }
        });
        info!(msgid = crate::messages::METRICS_LISTENING, listen = %self.addr, path = PATH, "metrics listening");
        tokio::spawn(http::serve(self.socket, PATH, http::Limits::default(), render));
    }
}

/// The one consumer of the ended-connection queue.
async fn count_ended(mut records: mpsc::Receiver<Ended>, state: Arc<State>) {
    let mut batch = Vec::with_capacity(256);
    while records.recv_many(&mut batch, 256).await > 0 {
        for ended in batch.drain(..) {
            state.families.count_ended(&ended.snapshot);
        }
    }
}
