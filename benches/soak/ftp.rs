//! Phase `ftp`: transfers through the FTP helper (explicit FTPS: AUTH TLS, PROT P, `SecureFtp
//! Required`, `SecureDataConn Private`, TLS 1.3) in front of a plain vsftpd, `ftp_parallel`
//! sessions at once, one transfer per session: curl (passive), lftp passive and lftp active in
//! turn, RETR and STOR, sizes 0 B to 8 MiB. Every transfer's file is checked by SHA-256 against
//! vsftpd's copy (`ftp_integrity::Target::mismatches`), then removed. Meanwhile `ftp_refreshes`
//! refreshes, spread over the transfers: the policy rewritten atomically (new file renamed over)
//! or in place (truncate and write), then `pagent refresh`, SIGHUP, or nothing (the file watcher);
//! each must install a new generation (the log's `policy loaded` with its cause).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::Ctx;
use crate::ftp_integrity::{Client, Op, Target, Tls, ftps_agent};
use crate::probe::{Probe, refresh_command};
use crate::report::{Row, thousands};
use crate::support::agent::{AgentProc, eventually, write_atomic};
use crate::support::ftp::{FtpServer, Vsftpd};

const LISTENER: [&str; 2] = ["SecureFtp Required", "SecureDataConn Private"];
const SIZES: [usize; 10] = [0, 1, 1000, 16_384, 65_537, 131_073, 262_144, 1 << 20, (4 << 20) + 1, 8 << 20];
const CLIENTS: [Client; 3] = [Client::CurlPassive, Client::LftpPassive, Client::LftpActive];
/// How long a refresh may take to show in the log (the watcher waits for the file to settle).
const REFRESH_SEEN: Duration = Duration::from_secs(10);

/// What the transfers found, shared by the workers.
#[derive(Default)]
struct Tally {
    per_client: [usize; 3],
    retr: usize,
    stor: usize,
    failures: Vec<String>,
    mismatches: Vec<String>,
}

pub fn run(ctx: &Ctx) -> Row {
    let counts = &ctx.counts;
    let mut row = Row::new("ftp");
    let server = Vsftpd::start();
    let (agent, pki) = ftps_agent("soak-ftp", &server, Tls::V13, &LISTENER, &[]);
    let probe = Probe::new(agent.pid(), agent.socket());
    let target = Target { agent: &agent, server: &server, pki: &pki };
    let files = agent.dir().join("files");
    fs::create_dir_all(&files).expect("files directory");
    for (i, len) in SIZES.iter().enumerate() {
        let (path, _) = server.random_file(&format!("s{i}.bin"), *len);
        fs::copy(&path, files.join(format!("s{i}.bin"))).expect("copy a source file");
    }
    // One transfer first, so the baseline has what the agent opens once (its session caches).
    let tally = Mutex::new(Tally::default());
    transfer(&target, &files, usize::MAX, &tally);
    let before = probe.check_leaks(&mut row, probe.read());
    let next = AtomicUsize::new(0);
    let t0 = Instant::now();
    let refreshes = std::thread::scope(|scope| {
        let refresher =
            scope.spawn(|| refresh_during(&agent, &next, counts.ftp_transfers, counts.ftp_refreshes));
        for _ in 0..counts.ftp_parallel {
            scope.spawn(|| {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= counts.ftp_transfers {
                        return;
                    }
                    transfer(&target, &files, k, &tally);
                }
            });
        }
        refresher.join().unwrap_or_else(|_| Refreshes {
            failures: vec!["the refresher panicked".into()],
            ..Default::default()
        })
    });
    let secs = t0.elapsed().as_secs_f64();
    let tally = tally.into_inner().unwrap_or_else(|e| e.into_inner());
    let [curl, lftp_p, lftp_a] = tally.per_client;
    row.done = format!(
        "{} transfers in {secs:.0} s, {} at once (curl passive {curl}, lftp passive {lftp_p}, lftp active {lftp_a}; \
         {} RETR, {} STOR; 0 B–8 MiB); {}",
        thousands(counts.ftp_transfers),
        counts.ftp_parallel,
        tally.retr,
        tally.stor,
        refreshes.describe()
    );
    row.mismatches = tally.mismatches.len() as u64;
    row.problems.extend(tally.mismatches);
    for f in tally.failures.into_iter().chain(refreshes.failures) {
        row.fail(f);
    }
    let not_installed = agent.log_text().matches("policy not installed").count();
    row.expect(not_installed == 0, || format!("{not_installed} refreshes logged `policy not installed`"));
    let after = probe.check_leaks(&mut row, before);
    row.notes.push(format!(
        "agent descriptors {} → {}, threads {} → {}, RSS {} → {} KiB",
        before.fds, after.fds, before.threads, after.threads, before.rss_kib, after.rss_kib
    ));
    row
}

/// Transfer `k` (`usize::MAX`: the warm-up): its client, size and direction from `k`, checked
/// and counted; its files removed afterwards.
fn transfer(target: &Target, files: &Path, k: usize, tally: &Mutex<Tally>) {
    let k0 = if k == usize::MAX { 0 } else { k };
    let which = k0 % CLIENTS.len();
    let size = (k0 / CLIENTS.len()) % SIZES.len();
    // Each client meets each size both ways.
    let retr = (k0 / (CLIENTS.len() * SIZES.len()) + k0) % 2 == 0;
    let got = files.join(format!("got{k0}.bin"));
    let op = if retr {
        Op::Retr(format!("s{size}.bin"), got.clone())
    } else {
        Op::Stor(files.join(format!("s{size}.bin")), format!("t{k0}.bin"))
    };
    let ops = [op];
    let run = target.run(CLIENTS[which], &ops);
    let mismatches = target.mismatches(&ops);
    let _ = fs::remove_file(&got);
    let _ = fs::remove_file(target.server.upload_dir().join(format!("t{k0}.bin")));
    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
    if k != usize::MAX {
        t.per_client[which] += 1;
        if retr { t.retr += 1 } else { t.stor += 1 }
    }
    if !run.success() {
        t.failures.push(format!("transfer {k0} {:?} {:?}: {run}", CLIENTS[which], ops[0]));
    }
    t.mismatches.extend(mismatches.into_iter().map(|m| format!("transfer {k0} {:?}: {m}", CLIENTS[which])));
}

/// The refreshes made during the transfers.
#[derive(Default)]
struct Refreshes {
    /// By trigger: `pagent refresh`, SIGHUP, the file watcher.
    by_trigger: [usize; 3],
    atomic: usize,
    in_place: usize,
    failures: Vec<String>,
}

impl Refreshes {
    fn describe(&self) -> String {
        let [cmd, hup, watch] = self.by_trigger;
        format!(
            "{} refreshes ({cmd} `pagent refresh`, {hup} SIGHUP, {watch} file watcher; {} written atomically, {} in place)",
            cmd + hup + watch,
            self.atomic,
            self.in_place
        )
    }
}

/// `n` refreshes, refresh `i` once the `(i + 1) / (n + 1)` share of the transfers has started (the
/// rest at the end if the transfers finish first).
fn refresh_during(agent: &AgentProc, next: &AtomicUsize, transfers: usize, n: usize) -> Refreshes {
    let policy = agent.dir().join("policy.pol");
    let original = fs::read_to_string(&policy).expect("the policy");
    let mut done = Refreshes::default();
    for i in 0..n {
        let due = (i + 1) * transfers / (n + 1);
        // Bounded: the transfers end (each client run is bounded), and so does this wait.
        let deadline = Instant::now() + Duration::from_secs(3600);
        while next.load(Ordering::Relaxed) < due && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Err(e) = refresh_once(agent, &policy, &original, i, &mut done) {
            done.failures.push(format!("refresh {i}: {e}"));
        }
    }
    done
}

/// A policy that means the same with another HandshakeTimeout (10 to 14 s), so each write changes
/// the file.
fn variant(original: &str, i: usize) -> String {
    original.replacen("SecondaryMap On", &format!("SecondaryMap On\n    HandshakeTimeout {}", 10 + i % 5), 1)
}

/// Refresh `i`: even ones write atomically, odd ones in place; `i % 3` picks the trigger.
fn refresh_once(
    agent: &AgentProc,
    policy: &PathBuf,
    original: &str,
    i: usize,
    done: &mut Refreshes,
) -> Result<(), String> {
    let text = variant(original, i);
    let (cause, trigger) = [("Command", 0), ("Signal", 1), ("FileChange", 2)][i % 3];
    let seen = || {
        agent
            .log_text()
            .lines()
            .filter(|l| l.contains("policy loaded") && l.contains(&format!("cause={cause}")))
            .count()
    };
    let before = seen();
    if i % 2 == 0 {
        write_atomic(policy, &text);
        done.atomic += 1;
    } else {
        fs::write(policy, &text).map_err(|e| format!("{}: {e}", policy.display()))?;
        done.in_place += 1;
    }
    match trigger {
        0 => {
            refresh_command(agent.socket())?;
        }
        1 => agent.sighup(),
        _ => {}
    }
    done.by_trigger[trigger] += 1;
    if eventually(REFRESH_SEEN, || seen() > before) {
        Ok(())
    } else {
        Err(format!("no `policy loaded` with cause={cause} within {REFRESH_SEEN:?}"))
    }
}
