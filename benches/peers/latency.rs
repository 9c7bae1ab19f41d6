//! The latency phase: a 1 KiB request and its 1 KiB response (the backend's echo) timed at the
//! client, with 1 and with `idle` (1,000) connections doing it at once, each connection `each`
//! times in a row; through the proxy and, in the same phase, straight to the backend in plaintext.
//! The report shows p50 and p99 of every exchange and what the proxy adds to the direct figure.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

use crate::STEP;
use crate::backend::ECHO;
use crate::client::{Clients, close, open_idle};
use crate::proxies::Proxy;

/// The request and response size.
pub const SIZE: usize = 1024;

/// p50 and p99 of one run, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
}

impl Percentiles {
    fn of(mut us: Vec<f64>) -> Option<Percentiles> {
        us.sort_by(f64::total_cmp);
        let at = |q: f64| us[((us.len() as f64 * q).ceil() as usize).clamp(1, us.len()) - 1];
        (!us.is_empty()).then(|| Percentiles { p50: at(0.50), p99: at(0.99) })
    }
}

/// One latency run: through the proxy and direct, at one concurrency.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    pub conns: usize,
    pub through: Percentiles,
    pub direct: Percentiles,
}

/// The request: the echo header and `SIZE` bytes.
fn message() -> Vec<u8> {
    let mut m = (ECHO | SIZE as u64).to_be_bytes().to_vec();
    m.extend((0..SIZE).map(|i| (i % 251) as u8));
    m
}

/// One exchange, timed: the request written, the whole echo read and compared.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, msg: &[u8]) -> io::Result<Duration> {
    let t0 = Instant::now();
    s.write_all(msg).await?;
    s.flush().await?;
    let mut back = [0u8; SIZE];
    s.read_exact(&mut back).await?;
    let took = t0.elapsed();
    if back[..] != msg[8..] {
        return Err(io::Error::other("the echo differs from the request"));
    }
    Ok(took)
}

/// Every connection runs `each` exchanges at once with the others; every exchange's time in µs,
/// and the streams back.
async fn run<S>(streams: Vec<S>, each: usize) -> Result<(Vec<f64>, Vec<S>), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limit = STEP + Duration::from_millis(each as u64 * 20);
    let mut set = JoinSet::new();
    for mut s in streams {
        set.spawn(async move {
            let msg = message();
            let mut took = Vec::with_capacity(each);
            for _ in 0..each {
                took.push(exchange(&mut s, &msg).await?.as_secs_f64() * 1e6);
            }
            Ok::<_, io::Error>((took, s))
        });
    }
    let (mut all, mut back) = (Vec::new(), Vec::new());
    let collect = async {
        while let Some(r) = set.join_next().await {
            let (took, s) = r.map_err(|e| e.to_string())?.map_err(|e| format!("exchange: {e}"))?;
            all.extend(took);
            back.push(s);
        }
        Ok::<_, String>(())
    };
    tokio::time::timeout(limit, collect).await.map_err(|_| format!("latency run over {limit:?}"))??;
    Ok((all, back))
}

async fn direct_streams(backend: SocketAddr, n: usize) -> Result<Vec<TcpStream>, String> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let s = TcpStream::connect(backend).await.map_err(|e| format!("backend: {e}"))?;
        s.set_nodelay(true).map_err(|e| e.to_string())?;
        v.push(s);
    }
    Ok(v)
}

/// `conns` connections, `each` exchanges each: direct to the backend, then through the proxy
/// (connections set up before either clock).
pub fn latency_phase(
    rt: &Runtime,
    proxy: &mut Proxy,
    clients: &Clients,
    backend: SocketAddr,
    conns: usize,
    each: usize,
) -> Result<Latency, String> {
    let direct = rt.block_on(async {
        let streams = direct_streams(backend, conns).await?;
        run(streams, each).await.map(|(us, _)| us)
    })?;
    let through = rt.block_on(async {
        let streams = open_idle(&clients.full, proxy.addr, conns).await?;
        let (us, streams) = run(streams, each).await?;
        let mut set = JoinSet::new();
        for s in streams {
            set.spawn(close(s));
        }
        while set.join_next().await.is_some() {}
        Ok::<_, String>(us)
    })?;
    proxy.alive()?;
    let (direct, through) = (Percentiles::of(direct), Percentiles::of(through));
    let latency =
        Latency { conns, through: through.ok_or("no exchange")?, direct: direct.ok_or("no exchange")? };
    eprintln!(
        "latency {conns} conn x {each}: p50 {:.0} us, p99 {:.0} us (direct {:.0} / {:.0} us)",
        latency.through.p50, latency.through.p99, latency.direct.p50, latency.direct.p99
    );
    Ok(latency)
}

/// The medians over the rounds of each percentile, through the proxy and direct, and what the
/// proxy adds (through minus direct, per round, then the median).
#[derive(Debug, Clone, Copy)]
pub struct LatencyRow {
    pub conns: usize,
    pub through: Percentiles,
    pub direct: Percentiles,
    pub added: Percentiles,
}

impl LatencyRow {
    pub fn of(runs: &[Latency]) -> Option<LatencyRow> {
        let med = |f: fn(&Latency) -> f64| crate::phases::median(&runs.iter().map(f).collect::<Vec<_>>());
        Some(LatencyRow {
            conns: runs.first()?.conns,
            through: Percentiles { p50: med(|l| l.through.p50)?, p99: med(|l| l.through.p99)? },
            direct: Percentiles { p50: med(|l| l.direct.p50)?, p99: med(|l| l.direct.p99)? },
            added: Percentiles {
                p50: med(|l| l.through.p50 - l.direct.p50)?,
                p99: med(|l| l.through.p99 - l.direct.p99)?,
            },
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "connections": self.conns,
            "p50_us": self.through.p50, "p99_us": self.through.p99,
            "direct_p50_us": self.direct.p50, "direct_p99_us": self.direct.p99,
            "added_p50_us": self.added.p50, "added_p99_us": self.added.p99,
        })
    }
}

/// The latency table of one scenario: a row per proxy and concurrency.
pub fn table(rows: &[(crate::proxies::Kind, &crate::report::Row)]) -> String {
    use std::fmt::Write as _;
    let mut t = String::from(
        "| proxy | connections | p50 us | p99 us | added p50 us | added p99 us | direct p50 / p99 us |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for (kind, r) in rows {
        for l in [r.latency_1, r.latency_many].into_iter().flatten() {
            let _ = writeln!(
                t,
                "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} / {:.0} |",
                kind.name(),
                l.conns,
                l.through.p50,
                l.through.p99,
                l.added.p50,
                l.added.p99,
                l.direct.p50,
                l.direct.p99
            );
        }
    }
    t
}
