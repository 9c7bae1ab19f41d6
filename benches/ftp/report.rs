//! The output: a markdown table of medians (a row per server), the spread over the rounds, the
//! ratios (each the median of the per-round ratios), and all of it with every RETR's raw figures
//! as JSON in `target/ftp-bench.json`.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::cpu::Method;
use crate::{Case, Params};

const GIB: f64 = (1u64 << 30) as f64;

/// One timed RETR.
pub struct Sample {
    pub case: Case,
    pub round: usize,
    pub wall_s: f64,
    pub bytes: u64,
    /// Everything on the server side: the vsftpd, plus pagent in the attls case.
    pub server_cpu_s: f64,
    /// pagent alone (attls case).
    pub attls_cpu_s: Option<f64>,
    /// The vsftpd alone (in the attls case: the backend).
    pub vsftpd_cpu_s: f64,
    pub client_cpu_s: f64,
    pub load_before: String,
    pub load_after: String,
}

impl Sample {
    fn mb_s(&self) -> f64 {
        self.bytes as f64 / self.wall_s / 1e6
    }

    fn per_gib(&self, seconds: f64) -> f64 {
        seconds / (self.bytes as f64 / GIB)
    }

    fn json(&self) -> Value {
        json!({
            "case": self.case.name(), "round": self.round, "bytes": self.bytes, "wall_s": self.wall_s,
            "mb_s": self.mb_s(), "server_cpu_s": self.server_cpu_s, "attls_cpu_s": self.attls_cpu_s,
            "vsftpd_cpu_s": self.vsftpd_cpu_s, "client_cpu_s": self.client_cpu_s,
            "loadavg_before": self.load_before, "loadavg_after": self.load_after,
        })
    }
}

/// A figure of one case over the rounds.
fn figures(samples: &[Sample], case: Case, f: impl Fn(&Sample) -> Option<f64>) -> Vec<f64> {
    samples.iter().filter(|s| s.case == case).filter_map(f).collect()
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

fn spread(v: &[f64]) -> Option<(f64, f64)> {
    let lo = v.iter().copied().reduce(f64::min)?;
    Some((lo, v.iter().copied().reduce(f64::max)?))
}

/// A ratio of attls against another case: `f(attls) / f(other)` per round, then the median.
struct Ratio {
    name: &'static str,
    form: &'static str,
    per_round: Vec<f64>,
}

fn ratio(
    samples: &[Sample],
    name: &'static str,
    form: &'static str,
    other: Case,
    num: fn(&Sample) -> Option<f64>,
    den: fn(&Sample) -> Option<f64>,
) -> Ratio {
    let rounds: Vec<usize> =
        figures(samples, Case::Attls, |s| Some(s.round as f64)).iter().map(|&r| r as usize).collect();
    let pick = |case: Case, round: usize| samples.iter().find(|s| s.case == case && s.round == round);
    let per_round = rounds
        .into_iter()
        .filter_map(|r| {
            let (a, o) = (num(pick(Case::Attls, r)?)?, den(pick(other, r)?)?);
            (o > 0.0).then(|| a / o)
        })
        .collect();
    Ratio { name, form, per_round }
}

fn ratios(samples: &[Sample]) -> Vec<Ratio> {
    let mb = |s: &Sample| Some(s.mb_s());
    let cpu = |s: &Sample| Some(s.per_gib(s.server_cpu_s));
    let attls = |s: &Sample| s.attls_cpu_s.map(|c| s.per_gib(c));
    vec![
        ratio(samples, "throughput, attls vs plain", "MB/s attls / plain", Case::Plain, mb, mb),
        ratio(
            samples,
            "server CPU, attls vs plain",
            "CPU (attls + vsftpd) / plain vsftpd",
            Case::Plain,
            cpu,
            cpu,
        ),
        ratio(
            samples,
            "throughput, attls vs vsftpd FTPS",
            "MB/s attls / vsftpd-tls",
            Case::VsftpdTls,
            mb,
            mb,
        ),
        ratio(
            samples,
            "server CPU, attls vs vsftpd FTPS",
            "CPU (attls + vsftpd) / vsftpd-tls",
            Case::VsftpdTls,
            cpu,
            cpu,
        ),
        ratio(samples, "attls alone vs vsftpd FTPS", "CPU attls / vsftpd-tls", Case::VsftpdTls, attls, cpu),
    ]
}

/// Prints the table, the spread and the ratios; writes `target/ftp-bench.json`.
pub fn publish(
    params: &Params,
    method: Method,
    clk_tck: u64,
    aes: Option<f64>,
    versions: &[String],
    tls: &[(Case, Vec<String>)],
    samples: &[Sample],
) {
    let f = |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
    let mut t = String::new();
    t.push_str(
        "| server | MB/s | server CPU s/GiB | of which attls | curl CPU s/GiB |\n|---|---|---|---|---|\n",
    );
    let mut rows = Vec::new();
    for case in Case::ALL {
        let mb = figures(samples, case, |s| Some(s.mb_s()));
        let cpu = figures(samples, case, |s| Some(s.per_gib(s.server_cpu_s)));
        let attls = figures(samples, case, |s| s.attls_cpu_s.map(|c| s.per_gib(c)));
        let client = figures(samples, case, |s| Some(s.per_gib(s.client_cpu_s)));
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} |",
            case.describe(),
            f(median(mb.clone()), 0),
            f(median(cpu.clone()), 2),
            f(median(attls.clone()), 2),
            f(median(client.clone()), 2)
        );
        rows.push(json!({
            "case": case.name(), "description": case.describe(),
            "median_mb_s": median(mb.clone()), "median_server_cpu_s_per_gib": median(cpu.clone()),
            "median_attls_cpu_s_per_gib": median(attls), "median_client_cpu_s_per_gib": median(client),
            "mb_s_range": spread(&mb), "server_cpu_s_per_gib_range": spread(&cpu),
        }));
    }
    println!("\n{t}");
    for case in Case::ALL {
        let mb = spread(&figures(samples, case, |s| Some(s.mb_s())));
        let cpu = spread(&figures(samples, case, |s| Some(s.per_gib(s.server_cpu_s))));
        if let (Some(mb), Some(cpu)) = (mb, cpu) {
            println!(
                "{:<10} over {} rounds: {:.0}–{:.0} MB/s, server CPU {:.2}–{:.2} s/GiB",
                case.name(),
                params.rounds,
                mb.0,
                mb.1,
                cpu.0,
                cpu.1
            );
        }
    }
    println!("\nRatios (median of the per-round ratios):");
    let ratios = ratios(samples);
    for r in &ratios {
        let each: Vec<String> = r.per_round.iter().map(|x| format!("{x:.2}")).collect();
        println!(
            "  {:<34} {:<36} {}  (rounds: {})",
            r.name,
            r.form,
            f(median(r.per_round.clone()), 2),
            each.join(", ")
        );
    }
    let json = json!({
        "size_bytes": params.size,
        "rounds": params.rounds,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "clk_tck": clk_tck,
        "cpu_method": method.name(),
        "tls": "TLS 1.3, TLS_AES_128_GCM_SHA256, secp256r1, ECDSA P-256 certificate",
        "openssl_speed_aes_128_gcm_mb_s": aes,
        "versions": versions,
        "tls_check": tls.iter().map(|(c, l)| json!({"case": c.name(), "lines": l})).collect::<Vec<_>>(),
        "cases": rows,
        "ratios": ratios.iter().map(|r| json!({
            "name": r.name, "ratio": r.form, "median": median(r.per_round.clone()), "per_round": r.per_round,
        })).collect::<Vec<_>>(),
        "samples": samples.iter().map(Sample::json).collect::<Vec<_>>(),
    });
    crate::readings::write_json("ftp-bench.json", &json);
}
