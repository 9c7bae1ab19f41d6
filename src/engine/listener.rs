//! The accept loop of one listener: a ConnID and a task per connection, within the listener's
//! `MaxConnections` and the agent's (further clients wait in the listen backlog), a client address
//! over `MaxConnectionsPerSource` reset at once, and a short backoff when accept fails (e.g. out of
//! file descriptors) instead of a busy loop.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::field::Empty;
use tracing::{Instrument, info_span, warn};

use super::context::Context;
use super::sockets::reset_on_close;
use crate::config::ListenerConfig;
use crate::messages as msg;
use crate::policy::matcher::canonical;

/// Live connections per client address.
#[derive(Default)]
struct Sources(Mutex<HashMap<IpAddr, usize>>);

/// One live connection from an address; counted down when dropped.
struct FromSource {
    sources: Arc<Sources>,
    ip: IpAddr,
}

impl Sources {
    /// Counts a connection from `ip`, unless `limit` are live already.
    fn admit(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<FromSource> {
        let mut live = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = live.entry(ip).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(FromSource { sources: self.clone(), ip })
    }
}

impl Drop for FromSource {
    fn drop(&mut self) {
        let mut live = self.sources.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = live.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                live.remove(&self.ip);
            }
        }
    }
}

/// What a connection holds while it lives: its places in the listener's and the agent's limits and
/// its address's count, all given back when it is dropped.
struct Admitted {
    _listener: OwnedSemaphorePermit,
    _agent: OwnedSemaphorePermit,
    _source: FromSource,
}

pub async fn accept_loop(ctx: Arc<Context>, listener: Arc<ListenerConfig>, sock: TcpListener) {
    let permits = Arc::new(Semaphore::new(listener.limits.max_connections));
    let sources = Arc::new(Sources::default());
    let mut backoff = Duration::from_millis(5);
    loop {
        // Wait until there is a place, without holding it while accept waits: a helper's data
        // connection may take it meanwhile.
        let (Ok(free), Ok(free_agent_wide)) = (permits.acquire().await, ctx.connections.acquire().await)
        else {
            return;
        };
        drop((free, free_agent_wide));
        let (stream, peer) = match sock.accept().await {
            Ok(s) => {
                backoff = Duration::from_millis(5);
                s
            }
            Err(e) => {
                warn!(msgid = msg::ACCEPT_FAILED, listener = %listener.name, "accept failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let places = (permits.clone().try_acquire_owned(), ctx.connections.clone().try_acquire_owned());
        let (Ok(mine), Ok(agent_wide)) = places else {
            warn!(msgid = msg::REFUSED_MAX_CONNECTIONS, listener = %listener.name, client = %peer, "refused: MaxConnections reached");
            reset_on_close(&stream);
            continue;
        };
        let limit = listener.limits.max_per_source;
        let Some(counted) = sources.admit(canonical(peer.ip()), limit) else {
            warn!(msgid = msg::REFUSED_PER_SOURCE, listener = %listener.name, client = %peer, limit, "refused: too many connections from this address (MaxConnectionsPerSource)");
            reset_on_close(&stream);
            continue;
        };
        let admitted = Admitted { _listener: mine, _agent: agent_wide, _source: counted };
        let _ = stream.set_nodelay(true);
        let id = ctx.registry.next_id();
        // `facility`: the rule's SyslogFacility, recorded once the connection is mapped.
        let span =
            info_span!("conn", conn = %id, listener = %listener.name, client = %peer, facility = Empty);
        let (ctx, listener, places) = (ctx.clone(), listener.clone(), permits.clone());
        tokio::spawn(
            async move {
                super::pipeline::serve(ctx, listener, places, id, stream).await;
                drop(admitted);
            }
            .instrument(span),
        );
    }
}
