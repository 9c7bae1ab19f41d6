//! The targets a run is judged by, as ratios in the same run: attls against stunnel and HAProxy
//! (CPU per GB, per full and resumed handshake, RSS per idle connection, 1 KiB latency), against
//! the one-core cost of the negotiated AEAD (`openssl speed`), and against itself (resumed vs full,
//! after a refresh vs before). Each prints PASS, FAIL or n/a.

use serde_json::{Value, json};

use crate::latency::LatencyRow;
use crate::proxies::Kind;
use crate::report::{AfterRefresh, Row};
use crate::scenario::Scenario;

/// Which latency run of a row.
type PickLatency = fn(&Row) -> Option<LatencyRow>;

/// One target of the issue, attls against a peer (or against itself).
pub struct Check {
    name: String,
    /// How the ratio is formed, e.g. `stunnel / attls`.
    form: &'static str,
    ratio: Option<f64>,
    /// `ratio >= bound` (`at_least`) or `ratio <= bound`.
    bound: f64,
    at_least: bool,
}

impl Check {
    fn pass(&self) -> Option<bool> {
        self.ratio.map(|r| if self.at_least { r >= self.bound } else { r <= self.bound })
    }

    pub fn line(&self) -> String {
        let verdict = match self.pass() {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "n/a ",
        };
        let op = if self.at_least { ">=" } else { "<=" };
        let ratio = self.ratio.map_or("n/a".to_string(), |r| format!("{r:.2}"));
        format!("{verdict}  {}: {} = {ratio} (target {op} {:.2})", self.name, self.form, self.bound)
    }

    pub fn json(&self, scenario: Scenario) -> Value {
        json!({"scenario": scenario.name(), "name": self.name, "ratio": self.form, "value": self.ratio,
               "bound": self.bound, "at_least": self.at_least, "pass": self.pass()})
    }
}

/// A cost ratio that must stay at or under `bound`.
fn at_most(name: String, form: &'static str, ratio: Option<f64>, bound: f64) -> Check {
    Check { name, form, ratio, bound, at_least: false }
}

/// A ratio that must reach `bound`.
fn at_least(name: String, form: &'static str, ratio: Option<f64>, bound: f64) -> Check {
    Check { name, form, ratio, bound, at_least: true }
}

/// The checks of one scenario's rows; `aes` is `openssl speed`'s one-core AES-GCM MB/s.
pub fn checks(rows: &[(Kind, &Row)], aes: Option<f64>) -> Vec<Check> {
    let get = |k: Kind| rows.iter().find(|(kind, r)| *kind == k && r.error.is_none()).map(|(_, r)| *r);
    let (a, s, h) = (get(Kind::Attls), get(Kind::Stunnel), get(Kind::Haproxy));
    // attls / peer of one figure.
    let of = |peer: Option<&Row>, field: &dyn Fn(&Row) -> Option<f64>| {
        let (a, p) = (field(a?)?, field(peer?)?);
        (p > 0.0).then(|| a / p)
    };
    let mut checks = Vec::new();
    for (conns, gb) in
        [(1, (|r: &Row| r.cpu_s_per_gb_1) as fn(&Row) -> Option<f64>), (8, |r| r.cpu_s_per_gb_8)]
    {
        let vs = |peer| format!("CPU per GB, {conns} conn, vs {peer}");
        checks.push(at_most(vs("stunnel"), "attls / stunnel", of(s, &gb), 1.0 / 1.8));
        checks.push(at_most(vs("HAProxy"), "attls / haproxy", of(h, &gb), 1.0 / 1.5));
        // One core's AES-GCM cost of a GB, from `openssl speed` in the same run.
        let aead = aes.filter(|mb| *mb > 0.0).map(|mb| 1000.0 / mb);
        let ratio = a.and_then(gb).zip(aead).map(|(x, y)| x / y);
        checks.push(at_most(
            format!("CPU per GB, {conns} conn, vs the AEAD alone"),
            "attls / openssl speed",
            ratio,
            1.5,
        ));
    }
    checks.push(at_most(
        "CPU per full handshake vs HAProxy".into(),
        "attls / haproxy",
        of(h, &|r| r.cpu_ms_full),
        0.7,
    ));
    checks.push(at_most(
        "CPU per resumed handshake vs HAProxy".into(),
        "attls / haproxy",
        of(h, &|r| r.cpu_ms_resumed),
        0.7,
    ));
    checks.push(at_most(
        "RSS per idle connection vs HAProxy".into(),
        "attls / haproxy",
        of(h, &|r| r.rss_kib_idle),
        0.8,
    ));
    let lat: [(&str, PickLatency); 2] = [("1", |r| r.latency_1), ("many", |r| r.latency_many)];
    for (which, pick) in lat {
        let conns = a.and_then(pick).map_or(which.to_string(), |l| l.conns.to_string());
        let name = |p: &str| format!("1 KiB latency {p}, {conns} conn, vs HAProxy");
        checks.push(at_most(name("p50"), "attls / haproxy", of(h, &|r| pick(r).map(|l| l.through.p50)), 1.0));
        checks.push(at_most(name("p99"), "attls / haproxy", of(h, &|r| pick(r).map(|l| l.through.p99)), 1.0));
    }
    checks.extend(own_checks(a.unwrap_or(&Row::default())));
    checks
}

/// attls against itself: a resumed handshake against a full one, and one right after a refresh
/// against one before it (CPU and share resumed). `a` is empty when attls did not run or failed.
fn own_checks(a: &Row) -> Vec<Check> {
    let refresh = a.after_refresh.as_ref();
    vec![
        at_most("attls resumed vs full handshake".into(), "resumed / full", a.resumed_over_full(), 1.0 / 3.0),
        at_most(
            "attls resumed handshake CPU right after a refresh vs before it".into(),
            "after / before",
            refresh.and_then(|x| x.over_before),
            1.1,
        ),
        at_least(
            "attls handshakes resumed right after a refresh".into(),
            "resumed / attempts",
            refresh.and_then(AfterRefresh::share),
            0.99,
        ),
    ]
}
