//! The accept loop of one listener: a ConnID and a task per connection, a cap on live connections,
//! and a short backoff when accept fails (e.g. out of file descriptors) instead of a busy loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{Instrument, info_span, warn};

use super::context::Context;
use crate::config::ListenerConfig;

/// Live connections per listener; further clients wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 16_384;

pub async fn accept_loop(ctx: Arc<Context>, listener: Arc<ListenerConfig>, sock: TcpListener) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = Duration::from_millis(5);
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let (stream, peer) = match sock.accept().await {
            Ok(s) => {
                backoff = Duration::from_millis(5);
                s
            }
            Err(e) => {
                warn!(listener = %listener.name, "accept failed: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let id = ctx.registry.next_id();
        let span = info_span!("conn", conn = %id, listener = %listener.name, client = %peer);
        let (ctx, listener) = (ctx.clone(), listener.clone());
        tokio::spawn(
            async move {
                super::pipeline::serve(ctx, listener, id, stream).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
}
