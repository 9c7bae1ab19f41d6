//! What the engine needs from whoever runs it, and what it lends the protocol helpers: the policy
//! generation new connections map with, the registry of live connections, the client inventory,
//! the PURGE signal, the control channels of application-controlled connections, and the helpers
//! plugged in by protocol.
//! The engine knows neither the agent nor the helpers: the agent builds a [`Context`] and plugs
//! FTP and TN3270 in as [`Helper`]s.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};

use super::controls::Controls;
use super::generation::Generation;
use super::identify::Accepted;
use super::mapping::Mapping;
use crate::config::{ListenerConfig, Protocol};
use crate::inventory::Inventory;
use crate::registry::Registry;

/// A helper's work on one connection, until it closes.
pub type Serving = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

/// A connection handed to a helper: accepted, identified and mapped.
pub struct Handover {
    pub ctx: Arc<Context>,
    pub listener: Arc<ListenerConfig>,
    /// The listener's `MaxConnections` places: connections a helper opens for this one (FTP data
    /// connections) take one too.
    pub places: Arc<tokio::sync::Semaphore>,
    pub acc: Accepted,
    pub mapping: Mapping,
    pub client: TcpStream,
}

/// A protocol helper: takes over a connection once it is accepted and mapped.
pub trait Helper: Send + Sync {
    fn serve(&self, conn: Handover) -> Serving;
}

/// The engine's view of a running agent.
pub struct Context {
    pub registry: Arc<Registry>,
    pub controls: Arc<Controls>,
    /// `MaxConnections` agent-wide: a permit per live connection, FTP data connections included.
    pub connections: Arc<Semaphore>,
    /// The client inventory: server-role handshakes record their ClientHello profiles in it.
    pub inventory: Arc<Inventory>,
    generations: watch::Receiver<Arc<Generation>>,
    purge: watch::Receiver<bool>,
    helpers: Vec<(Protocol, Arc<dyn Helper>)>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let helpers: Vec<_> = self.helpers.iter().map(|(p, _)| p.word()).collect();
        f.debug_struct("Context").field("live", &self.registry.len()).field("helpers", &helpers).finish()
    }
}

impl Context {
    /// `generations` holds the generation new connections map with; `purge` turns true when live
    /// connections must close at once (shutdown under PURGE).
    pub fn new(
        registry: Arc<Registry>,
        generations: watch::Receiver<Arc<Generation>>,
        purge: watch::Receiver<bool>,
        max_connections: usize,
    ) -> Context {
        let connections = Arc::new(Semaphore::new(max_connections));
        Context {
            registry,
            controls: Arc::default(),
            connections,
            inventory: Arc::default(),
            generations,
            purge,
            helpers: Vec::new(),
        }
    }

    /// Records server-role handshakes in `inventory` (the default keeps the default limits).
    pub fn with_inventory(mut self, inventory: Arc<Inventory>) -> Context {
        self.inventory = inventory;
        self
    }

    /// Plugs in the helper that serves `protocol`'s connections.
    pub fn with_helper(mut self, protocol: Protocol, helper: Arc<dyn Helper>) -> Context {
        self.helpers.push((protocol, helper));
        self
    }

    /// The generation new connections map with.
    pub fn current(&self) -> Arc<Generation> {
        self.generations.borrow().clone()
    }

    /// Turns true when live connections must close at once.
    pub fn purge(&self) -> watch::Receiver<bool> {
        self.purge.clone()
    }

    pub(super) fn helper(&self, protocol: Protocol) -> Option<Arc<dyn Helper>> {
        self.helpers.iter().find(|(p, _)| *p == protocol).map(|(_, h)| h.clone())
    }
}
