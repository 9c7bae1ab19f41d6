//! The relay: full-duplex copy between the client side and the server side. Each direction runs on
//! its own; end of input on one side shuts down the other side's write half (a FIN, or close_notify
//! then FIN on TLS) while the reverse direction keeps flowing. Backpressure comes from awaiting each
//! write; the only per-read work is one atomic add for netstat. A direction waiting for bytes holds
//! no buffer ([`lent`]): an idle connection's relay is a few hundred bytes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

mod lent;

/// Bytes moved and how the relay ended.
#[derive(Debug, Default, Clone, Copy)]
pub struct RelayStats {
    pub from_client: u64,
    pub to_client: u64,
}

/// How many directions of a relay hold bytes read from their source and not yet written to their
/// destination (a write waiting on a peer that does not read). A relay cut from outside while it
/// holds bytes would deliver a stream with a piece missing: its ends must then be resets.
#[derive(Debug, Default)]
pub struct Held(AtomicUsize);

impl Held {
    /// Some direction holds bytes it could not deliver yet.
    pub fn any(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

/// One direction of a relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Client to server (an upload).
    ToServer,
    /// Server to client (a download).
    ToClient,
}

impl Flow {
    /// The side bytes of this flow come from, for messages.
    pub fn source(self) -> &'static str {
        match self {
            Flow::ToServer => "client",
            Flow::ToClient => "server",
        }
    }
}

/// Why a direction did not end cleanly.
#[derive(Debug)]
pub enum Broken {
    /// The source ended without close_notify: an end of stream anyone on the path could forge.
    Truncated,
    /// Reading the source failed (a reset, a TLS alert, a bad record).
    Read(std::io::Error),
    /// Writing to the destination failed: not every byte read was delivered.
    Write(std::io::Error),
}

/// A relay that ended with a broken direction; the other direction was abandoned.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe(self))]
pub struct RelayFailure {
    pub flow: Flow,
    pub broken: Broken,
}

fn describe(f: &RelayFailure) -> String {
    let source = f.flow.source();
    match &f.broken {
        Broken::Truncated => format!("truncated: the {source} ended its stream without close_notify"),
        Broken::Read(e) => format!("reading from the {source} failed: {e}"),
        Broken::Write(e) => {
            let dest = if f.flow == Flow::ToServer { "server" } else { "client" };
            format!("writing to the {dest} failed: {e}")
        }
    }
}

/// Copies `client` ⇄ `server` until both directions are done or one fails. `in_count` counts bytes
/// read from the client, `out_count` bytes written to the client. A peer that closes TLS without
/// close_notify ends its direction like a FIN here; [`relay_strict`] treats it as a failure.
pub async fn relay<C, S>(
    client: C,
    server: S,
    in_count: &AtomicU64,
    out_count: &AtomicU64,
) -> std::io::Result<RelayStats>
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let counts = (in_count, out_count);
    run(client, server, counts, &Held::default(), false, &|_| ()).await.map_err(|f| match f.broken {
        Broken::Read(e) | Broken::Write(e) => e,
        Broken::Truncated => std::io::Error::new(std::io::ErrorKind::UnexpectedEof, f.to_string()),
    })
}

/// As [`relay`], but every direction must end cleanly: an end of stream without close_notify, a
/// failed read or a failed write ends the whole relay at once with the [`RelayFailure`] (the caller
/// then resets both connections, so neither peer takes a cut stream for a complete one).
/// `ended(flow)` is called as each direction ends cleanly, its last byte delivered and its end
/// passed on (close_notify or FIN). `held` tells, while the relay runs, whether it holds bytes it
/// has not delivered.
pub async fn relay_strict<C, S>(
    client: C,
    server: S,
    counts: (&AtomicU64, &AtomicU64),
    held: &Held,
    ended: &(dyn Fn(Flow) + Sync),
) -> Result<RelayStats, RelayFailure>
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    run(client, server, counts, held, true, ended).await
}

/// Why a relay was ended from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Neither count moved for `IdleTimeout`.
    Idle,
    /// `stop` completed (shutdown under PURGE).
    Stopped,
}

/// Runs `work` (a relay counting into `counts`) until it ends, until neither count has moved for
/// `idle` (`IdleTimeout`), or until `stop` completes; the caller then closes both sides in order.
/// `work` comes pinned by the caller: taken by value, it would be stored twice in this future.
pub async fn until_cut<F: std::future::Future>(
    mut work: std::pin::Pin<&mut F>,
    counts: (&AtomicU64, &AtomicU64),
    idle: Option<std::time::Duration>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<F::Output, Cut> {
    tokio::pin!(stop);
    let moved = || counts.0.load(Ordering::Relaxed) + counts.1.load(Ordering::Relaxed);
    let check = idle
        .map_or(std::time::Duration::from_secs(3600), |i| (i / 4).max(std::time::Duration::from_millis(50)));
    let (mut last, mut since) = (moved(), tokio::time::Instant::now());
    loop {
        tokio::select! {
            r = work.as_mut() => return Ok(r),
            () = &mut stop => return Err(Cut::Stopped),
            () = tokio::time::sleep(check) => {
                let now = moved();
                if now != last {
                    (last, since) = (now, tokio::time::Instant::now());
                } else if idle.is_some_and(|i| since.elapsed() >= i) {
                    return Err(Cut::Idle);
                }
            }
        }
    }
}

async fn run<C, S>(
    client: C,
    server: S,
    (in_count, out_count): (&AtomicU64, &AtomicU64),
    held: &Held,
    strict: bool,
    ended: &(dyn Fn(Flow) + Sync),
) -> Result<RelayStats, RelayFailure>
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut sr, mut sw) = tokio::io::split(server);
    let up = Pipe { count: in_count, held, strict };
    let down = Pipe { count: out_count, held, strict };
    let upstream = direction(Flow::ToServer, &mut cr, &mut sw, up, ended);
    let downstream = direction(Flow::ToClient, &mut sr, &mut cw, down, ended);
    let (up, down) = tokio::try_join!(upstream, downstream)?;
    Ok(RelayStats { from_client: up, to_client: down })
}

/// What one direction counts into, and how strictly it judges its end.
#[derive(Clone, Copy)]
struct Pipe<'a> {
    count: &'a AtomicU64,
    held: &'a Held,
    strict: bool,
}

async fn direction<R, W>(
    flow: Flow,
    r: &mut R,
    w: &mut W,
    p: Pipe<'_>,
    ended: &(dyn Fn(Flow) + Sync),
) -> Result<u64, RelayFailure>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let n = pipe(r, w, p).await.map_err(|broken| RelayFailure { flow, broken })?;
    ended(flow);
    Ok(n)
}

async fn pipe<R, W>(r: &mut R, w: &mut W, Pipe { count, held, strict }: Pipe<'_>) -> Result<u64, Broken>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut total = 0u64;
    loop {
        let (buf, n) = match lent::read(r).await {
            Ok((buf, 0)) => {
                lent::give_back(buf);
                break;
            }
            Ok(read) => read,
            // A peer that closed without close_notify.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && strict => {
                return Err(Broken::Truncated);
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(Broken::Read(e)),
        };
        held.0.fetch_add(1, Ordering::Relaxed);
        w.write_all(&buf[..n]).await.map_err(Broken::Write)?;
        held.0.fetch_sub(1, Ordering::Relaxed);
        count.fetch_add(n as u64, Ordering::Relaxed);
        total += n as u64;
        lent::give_back(buf);
    }
    w.flush().await.map_err(Broken::Write)?;
    // Half-close: the other side sees end of input; on TLS this sends close_notify first. The
    // bytes are delivered already, so a peer that has gone meanwhile is no failure.
    let _ = w.shutdown().await;
    Ok(total)
}

#[cfg(test)]
mod tests;
