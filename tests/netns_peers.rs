//! The kernel side of transparent mode, proved in network namespaces the tests create (see
//! [`Topology`]): routing c -> p -> s; then the nft rules `pagent setup-intercept` prints, loaded in
//! the proxy namespace, send the client's connection for s:21 to a listener in p: `redirect` (the
//! listener reads SO_ORIGINAL_DST) and `tproxy` (the accepted socket's local address is the original
//! destination, and a connection bound to the client's address reaches the server and comes back;
//! a `[::]` listener takes IPv4 and IPv6). Loaded in the client namespace, the outbound `redirect`
//! never catches a connection carrying the agent's mark 0x4154. The listeners are small Python
//! programs standing in for the engine. Skipped with a clear message where the kernel or the
//! permissions refuse.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::agent::{TempDir, policy};
use crate::support::netns::{Ns, PYTHON, Topology, checked};
use crate::support::{pagent, stderr, stdout};

const WAIT: Duration = Duration::from_secs(5);

/// `peer.py MODE HOST PORT [MARK]`: a listener that answers each connection with one line,
/// `MODE local=A peer=B orig=C`, then what the client sent; with a relay mode it first connects to
/// the original destination (SO_MARK MARK), sends the client's bytes and appends the reply.
/// Modes: `plain`; `redirect` (orig from SO_ORIGINAL_DST, IPv4); `tproxy` (an IP_TRANSPARENT, or
/// IPV6_TRANSPARENT, listener: orig is the local address); `redirect-relay`; `tproxy-relay` (the
/// relay connection is bound to the client's address, transparent too).
const PEER: &str = r#"
import socket, struct, sys
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
mark = int(sys.argv[4], 0) if len(sys.argv) > 4 else 0
IP_TRANSPARENT, SO_ORIGINAL_DST, SO_MARK = 19, 80, 36
IPV6_TRANSPARENT = 75
def fmt(a):
    h = a[0][7:] if a[0].startswith('::ffff:') else a[0]
    return ('[%s]:%d' if ':' in h else '%s:%d') % (h, a[1])
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
def transparent(sock):
    if fam == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
    else:
        sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if mode.startswith('tproxy'):
    transparent(s)
s.bind((host, port))
s.listen(16)
print('listening', flush=True)
while True:
    c, peer = s.accept()
    c.settimeout(5)
    local, orig = c.getsockname(), None
    if mode.startswith('redirect'):
        p, a = struct.unpack('!2xH4s8x', c.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16))
        orig = (socket.inet_ntoa(a), p)
    elif mode.startswith('tproxy'):
        orig = local
    data = b''
    while not data.endswith(b'\n'):
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    reply = ('%s local=%s peer=%s orig=%s\n' % (mode, fmt(local), fmt(peer), orig and fmt(orig))).encode() + data
    if mode.endswith('relay'):
        b = socket.socket(fam, socket.SOCK_STREAM)
        b.settimeout(5)
        if mark:
            b.setsockopt(socket.SOL_SOCKET, SO_MARK, mark)
        if mode.startswith('tproxy'):
            transparent(b)
            b.bind((peer[0], 0))
        b.connect(orig[:2])
        b.sendall(data)
        b.shutdown(socket.SHUT_WR)
        while True:
            chunk = b.recv(4096)
            if not chunk:
                break
            reply += chunk
        b.close()
    c.sendall(reply)
    c.close()
    print('served', fmt(peer), flush=True)
"#;

/// `client.py HOST PORT [MARK]`: connects (SO_MARK MARK), sends `hello`, prints what comes back.
const CLIENT: &str = r#"
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
mark = int(sys.argv[3], 0) if len(sys.argv) > 3 else 0
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(5)
if mark:
    s.setsockopt(socket.SOL_SOCKET, 36, mark)
s.connect((host, port))
s.sendall(b'hello\n')
data = b''
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode())
"#;

fn peer(topo: &Topology, ns: Ns, args: &[&str]) -> crate::support::netns::NsChild {
    let mut argv = vec![PYTHON, "-c", PEER];
    argv.extend_from_slice(args);
    let child = topo.spawn(ns, &argv);
    child.wait_line("listening", WAIT);
    child
}

/// What the client in `ns` gets back from HOST:PORT (panics with the output if it fails).
fn client(topo: &Topology, ns: Ns, host: &str, port: u16, mark: Option<u32>) -> String {
    let port = port.to_string();
    let mark = mark.map(|m| m.to_string());
    let mut argv = vec![PYTHON, "-c", CLIENT, host, &port];
    argv.extend(mark.as_deref());
    topo.must(ns, &argv)
}

/// A configuration with one listener (`body` its keyword lines) and a policy of `rules`
/// (name, conditions), written under `dir`.
fn config(dir: &Path, listener: &str, body: &str, rules: &[(&str, &str)]) -> String {
    let env = policy::env("Server", Path::new("/nonexistent/ring"), &[], None);
    let text: String = rules
        .iter()
        .map(|(name, cond)| {
            let direction = if cond.contains("Remote") { "Outbound" } else { "Inbound" };
            policy::tls_rule(name, listener, direction, cond, &env)
        })
        .collect();
    std::fs::write(dir.join("policy.pol"), text).expect("write the policy");
    let conf = dir.join("pagent.conf");
    std::fs::write(&conf, format!("TTLSConfig policy.pol\nListener {listener}\n{{\n{body}\n}}\n"))
        .expect("write the configuration");
    conf.display().to_string()
}

/// `pagent setup-intercept -c CONF [extra]`'s stdout; panics unless it exits 0.
fn setup_intercept(conf: &str, extra: &[&str]) -> String {
    let mut args = vec!["setup-intercept", "-c", conf];
    args.extend_from_slice(extra);
    let out = pagent(&args);
    assert!(out.status.success(), "setup-intercept failed\n{}", stderr(&out));
    stdout(&out)
}

/// Loads the script in the proxy namespace; `None` (after `skipping: …`) when the kernel has no
/// support for one of its expressions.
fn load(topo: &Topology, ns: Ns, script: &str, tag: &str) -> Option<()> {
    match topo.nft(ns, script) {
        Ok(()) => Some(()),
        Err(e) if e.contains("No such file or directory") || e.contains("Operation not supported") => {
            eprintln!("skipping {tag}: the kernel refused the nft rules (a module missing?): {e}");
            None
        }
        Err(e) => panic!("nft refused the setup-intercept script: {e}\n{script}"),
    }
}

#[test]
fn tcp_round_trip_from_client_to_server_through_the_proxy() {
    let Some(topo) = Topology::new("netns round trip") else { return };
    let _server = peer(&topo, Ns::Server, &["plain", "::", "7000"]);
    let (c4, s4) = (topo.client_ip(), topo.server_ip());
    let got = client(&topo, Ns::Client, &s4.to_string(), 7000, None);
    assert!(got.starts_with(&format!("plain local={s4}:7000 peer={c4}:")), "{got}");
    assert!(got.ends_with("\nhello\n"), "{got}");
    let (c6, s6) = (topo.client_ip6(), topo.server_ip6());
    let got = client(&topo, Ns::Client, &s6.to_string(), 7000, None);
    assert!(got.starts_with(&format!("plain local=[{s6}]:7000 peer=[{c6}]:")), "{got}");
}

#[test]
fn setup_intercept_output_passes_nft_check() {
    let nft = ["/usr/sbin/nft", "nft"].into_iter().find(|n| Command::new(n).arg("-v").output().is_ok());
    let Some(nft) = nft else {
        eprintln!(
            "skipping setup_intercept_output_passes_nft_check: nft is not installed (scripts/test installs it)"
        );
        return;
    };
    let dir = TempDir::new("intercept-check");
    let rules = [("in21", "  LocalPortRange 21"), ("data", "  LocalPortRange 50000-50200")];
    let cases = [
        ("FTPD1", "Listen 0.0.0.0:2121\nDirection Inbound\nTransparent Redirect\nProtocolPorts Ftp 21,990"),
        ("FTPD2", "Listen [::]:2121\nDirection Inbound\nTransparent Tproxy"),
        ("FTPD3", "Listen 10.9.0.1:2121\nDirection Inbound\nTransparent Tproxy"),
        ("FTPD4", "Listen [::]:2121\nDirection Inbound\nTransparent Redirect"),
    ];
    let mut scripts = Vec::new();
    for (name, body) in cases {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).expect("mkdir");
        scripts.push(setup_intercept(&config(&sub, name, body, &rules), &[]));
    }
    let out_dir = dir.path().join("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    let conf = config(
        &out_dir,
        "CLIENT1",
        "Listen 127.0.0.1:7000\nDirection Outbound\nTransparent Redirect",
        &[("https", "  RemotePortRange 443")],
    );
    scripts.push(setup_intercept(&conf, &[]));
    for script in &scripts {
        match nft_check(nft, script) {
            Ok(()) => {}
            Err(e) if e.contains("Operation not permitted") => {
                eprintln!(
                    "skipping setup_intercept_output_passes_nft_check: nft -c needs CAP_NET_ADMIN: {e}"
                );
                return;
            }
            Err(e) => panic!("nft -c refused:\n{script}\n{e}"),
        }
    }
}

/// `nft -c -f -` (check only: nothing is loaded).
fn nft_check(nft: &str, script: &str) -> Result<(), String> {
    let mut child = Command::new(nft)
        .args(["-c", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), script.as_bytes())
        .map_err(|e| e.to_string())?;
    checked(child.wait_with_output().map_err(|e| e.to_string())?).map(drop)
}

#[test]
fn setup_intercept_without_a_transparent_listener_exits_1() {
    let dir = TempDir::new("intercept-none");
    let conf = config(
        dir.path(),
        "PLAIN",
        "Listen 127.0.0.1:0\nBackend 127.0.0.1:2\nDirection Inbound",
        &[("in21", "  LocalPortRange 21")],
    );
    let out = pagent(&["setup-intercept", "-c", &conf]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("has no transparent listener"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn redirect_sends_the_clients_connection_to_the_listener_in_the_proxy() {
    let tag = "netns redirect";
    let Some(topo) = Topology::new(tag) else { return };
    let dir = TempDir::new("netns-redirect");
    let conf = config(
        dir.path(),
        "FTPD1",
        "Listen 0.0.0.0:2121\nDirection Inbound\nTransparent Redirect",
        &[("ftp", "  LocalPortRange 21")],
    );
    let script = setup_intercept(&conf, &[]);
    assert!(script.contains("tcp dport { 21 } redirect to :2121"), "{script}");
    let Some(()) = load(&topo, Ns::Proxy, &script, tag) else { return };
    let _server = peer(&topo, Ns::Server, &["plain", "0.0.0.0", "21"]);
    let _listener = peer(&topo, Ns::Proxy, &["redirect-relay", "0.0.0.0", "2121", "0x4154"]);
    let (c, s, p) = (topo.client_ip(), topo.server_ip(), topo.proxy_ip(Ns::Client));
    let got = client(&topo, Ns::Client, &s.to_string(), 21, None);
    let lines: Vec<&str> = got.lines().collect();
    // The listener got it, with the original destination; its own connection to that destination
    // (from the proxy, output path) reached the server.
    assert!(lines[0].starts_with(&format!("redirect-relay local={p}:2121 peer={c}:")), "{got}");
    assert!(lines[0].ends_with(&format!("orig={s}:21")), "{got}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("plain local={s}:21 peer={}:", topo.proxy_ip(Ns::Server)))),
        "{got}"
    );
    // Loading it again replaces the rules (the table is flushed first).
    let Some(()) = load(&topo, Ns::Proxy, &script, tag) else { return };
    let rules = topo.must(Ns::Proxy, &["nft", "list", "table", "inet", "attls"]);
    assert_eq!(rules.matches("redirect to :2121").count(), 1, "{rules}");
}

#[test]
fn tproxy_listener_sees_the_original_destination_and_keeps_the_client_address() {
    let tag = "netns tproxy";
    let Some(topo) = Topology::new(tag) else { return };
    let dir = TempDir::new("netns-tproxy");
    let conf = config(
        dir.path(),
        "FTPD2",
        "Listen 0.0.0.0:2121\nDirection Inbound\nTransparent Tproxy",
        &[("ftp", "  LocalPortRange 21")],
    );
    let script = setup_intercept(&conf, &[]);
    assert!(script.contains("tcp dport { 21 } tproxy ip to :2121 meta mark set 0x1 accept"), "{script}");
    let Some(()) = load(&topo, Ns::Proxy, &script, tag) else { return };
    let routing = setup_intercept(&conf, &["--routing"]);
    // Twice: it must be safe to run again.
    for _ in 0..2 {
        topo.must(Ns::Proxy, &["sh", "-ec", &routing]);
    }
    let rules = topo.must(Ns::Proxy, &["ip", "rule", "show", "fwmark", "0x1", "lookup", "100"]);
    assert_eq!(rules.lines().count(), 1, "{rules}");
    let _server = peer(&topo, Ns::Server, &["plain", "0.0.0.0", "21"]);
    let _listener = peer(&topo, Ns::Proxy, &["tproxy-relay", "0.0.0.0", "2121", "0x4154"]);
    let (c, s) = (topo.client_ip(), topo.server_ip());
    let got = client(&topo, Ns::Client, &s.to_string(), 21, None);
    let lines: Vec<&str> = got.lines().collect();
    // The accepted socket's local address is the original destination...
    assert!(lines[0].starts_with(&format!("tproxy-relay local={s}:21 peer={c}:")), "{got}");
    // ...and the connection the listener opened from the client's address reached the server, whose
    // replies came back to it through the `socket transparent` rule.
    assert!(lines.iter().any(|l| l.starts_with(&format!("plain local={s}:21 peer={c}:"))), "{got}");
}

#[test]
fn outbound_redirect_never_catches_the_agents_marked_connections() {
    let tag = "netns outbound redirect";
    let Some(topo) = Topology::new(tag) else { return };
    let dir = TempDir::new("netns-outbound");
    let conf = config(
        dir.path(),
        "CLIENT1",
        "Listen 127.0.0.1:7000\nDirection Outbound\nTransparent Redirect",
        &[("https", "  RemotePortRange 443")],
    );
    let script = setup_intercept(&conf, &[]);
    // The client's own host intercepts its outbound connections.
    let Some(()) = load(&topo, Ns::Client, &script, tag) else { return };
    let _server = peer(&topo, Ns::Server, &["plain", "0.0.0.0", "443"]);
    let mut listener = peer(&topo, Ns::Client, &["redirect-relay", "127.0.0.1", "7000", "0x4154"]);
    let (c, s) = (topo.client_ip(), topo.server_ip());
    let got = client(&topo, Ns::Client, &s.to_string(), 443, None);
    let lines: Vec<&str> = got.lines().collect();
    assert!(lines[0].starts_with("redirect-relay local=127.0.0.1:7000 peer="), "{got}");
    assert!(lines[0].ends_with(&format!("orig={s}:443")), "{got}");
    // The listener's marked connection to the original destination went straight out.
    assert!(lines.iter().any(|l| l.starts_with(&format!("plain local={s}:443 peer={c}:"))), "{got}");
    assert!(listener.exited().is_none(), "{}", listener.log());
    // A marked client connection is not intercepted either.
    let got = client(&topo, Ns::Client, &s.to_string(), 443, Some(attls::intercept::OWN_MARK));
    assert!(got.starts_with(&format!("plain local={s}:443 peer={c}:")), "{got}");
}

#[test]
fn tproxy_on_a_dual_stack_listener_takes_ipv4_and_ipv6() {
    let tag = "netns tproxy dual stack";
    let Some(topo) = Topology::new(tag) else { return };
    let dir = TempDir::new("netns-tproxy6");
    let conf = config(
        dir.path(),
        "FTPD3",
        "Listen [::]:2121\nDirection Inbound\nTransparent Tproxy",
        &[("ftp", "  LocalPortRange 21")],
    );
    let script = setup_intercept(&conf, &[]);
    assert!(script.contains("tcp dport { 21 } tproxy ip6 to :2121 meta mark set 0x1 accept"), "{script}");
    let Some(()) = load(&topo, Ns::Proxy, &script, tag) else { return };
    topo.must(Ns::Proxy, &["sh", "-ec", &setup_intercept(&conf, &["--routing"])]);
    let _server = peer(&topo, Ns::Server, &["plain", "::", "21"]);
    let _listener = peer(&topo, Ns::Proxy, &["tproxy-relay", "::", "2121", "0x4154"]);
    let v4 = (topo.client_ip().to_string(), topo.server_ip().to_string());
    let v6 = (format!("[{}]", topo.client_ip6()), format!("[{}]", topo.server_ip6()));
    for ((c, s), host) in [(v4, topo.server_ip().to_string()), (v6, topo.server_ip6().to_string())] {
        let got = client(&topo, Ns::Client, &host, 21, None);
        let lines: Vec<&str> = got.lines().collect();
        assert!(lines[0].starts_with(&format!("tproxy-relay local={s}:21 peer={c}:")), "{got}");
        assert!(lines.iter().any(|l| l.starts_with(&format!("plain local={s}:21 peer={c}:"))), "{got}");
    }
}
