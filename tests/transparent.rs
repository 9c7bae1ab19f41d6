//! Transparent mode in network namespaces the tests build and remove (tests/support/netns.rs): a
//! client namespace `c`, the agent's namespace `p` and a server namespace `s`. The nftables rules
//! are the ones `pagent setup-intercept` prints; clients change nothing but TLS. Skipped with the
//! reason where the kernel or permissions refuse namespaces.

use std::time::Duration;

use crate::support::agent::{AgentProc, AgentSetup, TempDir, eventually};
use crate::support::ftp::sha256_file;
use crate::support::netns::{Ns, PYTHON, Topology};

const WAIT: Duration = Duration::from_secs(15);

/// A keyring directory whose server certificate names `ip` (an IP SAN), and its CA file.
fn pki_for(dir: &TempDir, ip: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let ring = dir.path().join(format!("ring-{ip}"));
    let ca = attls::keyring::write_test_pki(&ring, &[("server", ip, false)]).expect("test PKI");
    (ring, ca)
}

/// An environment action body for a server rule with `ring`.
fn server_env(ring: &std::path::Path) -> String {
    format!(
        "  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring {}\n  }}\n\
         TTLSEnvironmentAdvancedParms\n  {{\n    ApplicationControlled On\n    SecondaryMap On\n  }}\n",
        ring.display()
    )
}

/// A rule `name` with `conditions` (lines) and its own group and environment actions.
fn rule(name: &str, conditions: &str, env: &str) -> String {
    format!(
        "TTLSRule {name}\n{{\n{conditions}\n  TTLSGroupActionRef g~{name}\n  TTLSEnvironmentActionRef e~{name}\n}}\n\
         TTLSGroupAction g~{name}\n{{\n  TTLSEnabled On\n}}\n\
         TTLSEnvironmentAction e~{name}\n{{\n{env}}}\n"
    )
}

/// Loads what `pagent setup-intercept` prints into namespace `ns` (and the TPROXY routing).
fn intercept(t: &Topology, ns: Ns, agent: &AgentProc) {
    let conf = agent.dir().join("pagent.conf").display().to_string();
    let pagent = env!("CARGO_BIN_EXE_pagent");
    t.must(ns, &["sh", "-c", &format!("{pagent} setup-intercept -c {conf} | nft -f -")]);
    t.must(ns, &["sh", "-c", &format!("{pagent} setup-intercept -c {conf} --routing | sh")]);
}

/// pyftpdlib serving `dir` (anonymous, writable) on port 21 of namespace `ns`.
fn ftp_server(t: &Topology, ns: Ns, dir: &std::path::Path) -> crate::support::netns::NsChild {
    let root = dir.display().to_string();
    let server = t.spawn(ns, &[PYTHON, "-m", "pyftpdlib", "-p", "21", "-i", "0.0.0.0", "-w", "-d", &root]);
    assert!(eventually(WAIT, || server.log().contains("starting FTP server")), "{}", server.log());
    server
}

#[test]
fn redirect_sidecar_protects_ftp_and_tn3270_on_their_usual_ports() {
    let Some(t) = Topology::new("transparent-redirect") else { return };
    let dir = TempDir::new("transparent-redirect");
    let addr = t.proxy_ip(Ns::Client).to_string();
    let (ring, ca) = pki_for(&dir, &addr);
    // The unmodified servers run on the agent's host, on their usual ports.
    let files = dir.path().join("ftp");
    std::fs::create_dir_all(&files).expect("dir");
    let (_, sum) = crate::support::ftp::random_file(&files, "f.bin", 3 << 20);
    let _ftp = ftp_server(&t, Ns::Proxy, &files);
    let herc_cfg = dir.path().join("hercules.cnf");
    std::fs::write(&herc_cfg, "ARCHMODE ESA/390\nMAINSIZE 2\nNUMCPU 1\nCNSLPORT 23\n0700.2 3270\n")
        .expect("cfg");
    let herc =
        t.spawn(Ns::Proxy, &["timeout", "120", "hercules", "-d", "-f", &herc_cfg.display().to_string()]);
    assert!(eventually(WAIT, || herc.log().contains("Waiting for console connection")), "{}", herc.log());
    // The policy names the usual ports; Jobname comes from the process listening there (D7).
    let ftp_rule =
        rule("FTP~21", "  LocalPortRange 21\n  Jobname python*\n  Direction Inbound", &server_env(&ring));
    let tn_rule =
        rule("TN~23", "  LocalPortRange 23\n  Jobname hercules\n  Direction Inbound", &server_env(&ring));
    let agent = AgentSetup::new("transparent-redirect-agent")
        .listener_at(
            "INTERCEPT",
            "0.0.0.0:15001",
            None,
            "Inbound",
            &["Transparent Redirect", "ProtocolPorts Ftp 21", "ProtocolPorts Tn3270 23"],
        )
        .policy(&format!("{ftp_rule}{tn_rule}"))
        .in_netns(&t.name(Ns::Proxy))
        .start();
    intercept(&t, Ns::Proxy, &agent);
    // FTPS from the client namespace to the server's own address and port 21.
    let got = dir.path().join("got.bin").display().to_string();
    let url = format!("ftp://{addr}/f.bin");
    let ca_s = ca.display().to_string();
    t.must(
        Ns::Client,
        &["curl", "-sS", "--max-time", "20", "--ssl-reqd", "--cacert", &ca_s, "-o", &got, &url],
    );
    assert_eq!(sha256_file(std::path::Path::new(&got)), sum);
    let log = agent.log_text();
    assert!(log.contains("rule=\"FTP~21\"") && log.contains("how=\"AUTH TLS\""), "{log}");
    // TN3270 with direct TLS to port 23: the Hercules screen arrives through the agent.
    let script = format!("Connect(L:{addr}:23)\nWait(10,Output)\nAscii()\nQuery(Tls)\nQuit()\n");
    let out = t
        .exec_with(Ns::Client, &["s3270", "-cafile", &ca_s, "-accepthostname", &addr], Some(&script), WAIT)
        .expect("s3270");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MAINFRAME") && text.contains("secure"), "{text}\n{}", agent.log_text());
    assert!(agent.log_text().contains("rule=\"TN~23\""), "{}", agent.log_text());
}

#[test]
fn tproxy_router_keeps_the_client_address_for_the_unmodified_server() {
    let Some(t) = Topology::new("transparent-tproxy") else { return };
    let dir = TempDir::new("transparent-tproxy");
    let server_ip = t.server_ip().to_string();
    let (ring, ca) = pki_for(&dir, &server_ip);
    let files = dir.path().join("ftp");
    std::fs::create_dir_all(&files).expect("dir");
    let (_, sum) = crate::support::ftp::random_file(&files, "t.bin", 1 << 20);
    let ftp = ftp_server(&t, Ns::Server, &files);
    let ftp_rule = rule("FTP~21", "  LocalPortRange 21\n  Direction Inbound", &server_env(&ring));
    let agent = AgentSetup::new("transparent-tproxy-agent")
        .listener_at(
            "ROUTER",
            "0.0.0.0:15002",
            None,
            "Inbound",
            &["Transparent Tproxy", "ProtocolPorts Ftp 21"],
        )
        .policy(&ftp_rule)
        .in_netns(&t.name(Ns::Proxy))
        .start();
    intercept(&t, Ns::Proxy, &agent);
    let got = dir.path().join("t-got.bin").display().to_string();
    let url = format!("ftp://{server_ip}/t.bin");
    let ca_s = ca.display().to_string();
    t.must(
        Ns::Client,
        &["curl", "-sS", "--max-time", "20", "--ssl-reqd", "--cacert", &ca_s, "-o", &got, &url],
    );
    assert_eq!(sha256_file(std::path::Path::new(&got)), sum);
    // The unmodified server logged the real client, not the agent.
    let client = t.client_ip().to_string();
    assert!(ftp.log().contains(&client), "the server did not see {client}:\n{}", ftp.log());
}

#[test]
fn outbound_interception_gives_a_plaintext_client_tls_to_the_original_destination() {
    let Some(t) = Topology::new("transparent-out") else { return };
    let dir = TempDir::new("transparent-out");
    let server_ip = t.server_ip().to_string();
    let (ring, _ca) = pki_for(&dir, &server_ip);
    let (cert, key) =
        (ring.join("server.pem").display().to_string(), ring.join("server.key").display().to_string());
    let server = t
        .spawn(Ns::Server, &["openssl", "s_server", "-accept", "4433", "-cert", &cert, "-key", &key, "-www"]);
    assert!(eventually(WAIT, || server.log().contains("ACCEPT")), "{}", server.log());
    // The rule matches the client program by name: the Jobname comes from the socket's owner (D7).
    let env = format!(
        "  HandshakeRole Client\n  TTLSKeyringParms\n  {{\n    Keyring {}\n  }}\n",
        ring.join("ca.pem").display()
    );
    let out_rule = rule("OUT~4433", "  RemotePortRange 4433\n  Jobname curl\n  Direction Outbound", &env);
    let agent = AgentSetup::new("transparent-out-agent")
        .listener_at("EGRESS", "127.0.0.1:15003", None, "Outbound", &["Transparent Redirect"])
        .policy(&out_rule)
        .in_netns(&t.name(Ns::Proxy))
        .start();
    intercept(&t, Ns::Proxy, &agent);
    // A plaintext HTTP request from the agent's host; s_server only speaks TLS.
    let page = t.must(Ns::Proxy, &["curl", "-sS", "--max-time", "10", &format!("http://{server_ip}:4433/")]);
    assert!(page.contains("s_server") || page.contains("Ciphers"), "{page}\n{}", agent.log_text());
    let log = agent.log_text();
    assert!(log.contains("rule=\"OUT~4433\"") && log.contains("ENABLED"), "{log}");
}

#[test]
fn redirect_over_ipv6_finds_the_original_destination_too() {
    let Some(t) = Topology::new("transparent-v6") else { return };
    let dir = TempDir::new("transparent-v6");
    let n = t.name(Ns::Proxy);
    let addr = t.client_ip6().to_string().replace("::2", "::1");
    let (ring, ca) = pki_for(&dir, &addr);
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).expect("dir");
    std::fs::write(site.join("hello.txt"), "hello over IPv6\n").expect("file");
    let site_s = site.display().to_string();
    let web =
        t.spawn(Ns::Proxy, &[PYTHON, "-m", "http.server", "--bind", "::", "--directory", &site_s, "8080"]);
    assert!(eventually(WAIT, || web.log().contains("Serving HTTP")), "{}", web.log());
    let env =
        format!("  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring {}\n  }}\n", ring.display());
    let web_rule = rule("WEB~8080", "  LocalPortRange 8080\n  Direction Inbound", &env);
    let agent = AgentSetup::new("transparent-v6-agent")
        .listener_at("V6", "[::]:15004", None, "Inbound", &["Transparent Redirect"])
        .policy(&web_rule)
        .in_netns(&n)
        .start();
    intercept(&t, Ns::Proxy, &agent);
    let url = format!("https://[{addr}]:8080/hello.txt");
    let ca_s = ca.display().to_string();
    let out = t
        .exec(Ns::Client, &["curl", "-sS", "-g", "--max-time", "10", "--cacert", &ca_s, &url])
        .expect("curl");
    let page = String::from_utf8_lossy(&out.stdout);
    assert_eq!(page, "hello over IPv6\n", "{}\n{}", String::from_utf8_lossy(&out.stderr), agent.log_text());
    let log = agent.log_text();
    assert!(log.contains("rule=\"WEB~8080\"") && log.contains(&format!("local=[{addr}]:8080")), "{log}");
}

#[test]
fn an_unknown_owner_is_refused_not_matched_as_the_listener() {
    // On a router the server is on another host: /proc cannot name its owner. The exemption below
    // names the listener's own Jobname, which an unknown owner used to be matched as: its bytes
    // then went through in clear.
    let Some(t) = Topology::new("transparent-owner") else { return };
    let dir = TempDir::new("transparent-owner");
    let server_ip = t.server_ip().to_string();
    let files = dir.path().join("ftp");
    std::fs::create_dir_all(&files).expect("dir");
    crate::support::ftp::random_file(&files, "o.bin", 1000);
    let _ftp = ftp_server(&t, Ns::Server, &files);
    let exempt = "TTLSRule EXEMPT~21\n{\n  LocalPortRange 21\n  Jobname ROUTER\n  Direction Inbound\n  \
                  TTLSGroupActionRef gOff\n}\nTTLSGroupAction gOff\n{\n  TTLSEnabled Off\n}\n";
    let agent = AgentSetup::new("transparent-owner-agent")
        .listener_at("ROUTER", "0.0.0.0:15003", None, "Inbound", &["Transparent Tproxy"])
        .policy(exempt)
        .in_netns(&t.name(Ns::Proxy))
        .start();
    intercept(&t, Ns::Proxy, &agent);
    let got = dir.path().join("o-got.bin").display().to_string();
    let url = format!("ftp://{server_ip}/o.bin");
    let out = t.exec(Ns::Client, &["curl", "-sS", "--max-time", "10", "-o", &got, &url]).expect("curl runs");
    assert!(!out.status.success(), "a plain FTP download went through an unknown owner's connection");
    let refused = crate::support::agent::eventually(std::time::Duration::from_secs(10), || {
        agent.log_text().contains("refused: the connection's owner is unknown")
    });
    assert!(refused, "{}", agent.log_text());
}

#[test]
fn setup_intercept_local_takes_clients_on_the_servers_own_host() {
    // A plaintext web server on this host; a client on the same host dials it at 127.0.0.1. Only
    // the `--local` rules (nat output) send that connection to the agent.
    let Some(t) = Topology::new("transparent-local") else { return };
    let dir = TempDir::new("transparent-local");
    let (ring, ca) = pki_for(&dir, "127.0.0.1");
    let site = dir.path().join("site");
    std::fs::create_dir_all(&site).expect("dir");
    std::fs::write(site.join("hello.txt"), "hello from this host\n").expect("file");
    let site_s = site.display().to_string();
    let web = t.spawn(
        Ns::Proxy,
        &[PYTHON, "-m", "http.server", "--bind", "0.0.0.0", "--directory", &site_s, "8080"],
    );
    assert!(eventually(WAIT, || web.log().contains("Serving HTTP")), "{}", web.log());
    // The rule names the server's Jobname: the owner of the listening socket the client dialed.
    let env =
        format!("  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring {}\n  }}\n", ring.display());
    let web_rule = rule("WEB~8080", "  LocalPortRange 8080\n  Jobname python*\n  Direction Inbound", &env);
    let agent = AgentSetup::new("transparent-local-agent")
        .listener_at("LOCAL", "0.0.0.0:15005", None, "Inbound", &["Transparent Redirect"])
        .policy(&web_rule)
        .in_netns(&t.name(Ns::Proxy))
        .start();
    let conf = agent.dir().join("pagent.conf").display().to_string();
    let pagent = env!("CARGO_BIN_EXE_pagent");
    let url = "http://127.0.0.1:8080/hello.txt";
    // Without --local, prerouting never sees the local connection: it reaches the server in clear.
    t.must(Ns::Proxy, &["sh", "-c", &format!("{pagent} setup-intercept -c {conf} | nft -f -")]);
    assert_eq!(t.must(Ns::Proxy, &["curl", "-sS", "--max-time", "10", url]), "hello from this host\n");
    // With --local it is the agent's: TLS on the server's own port, the server unchanged.
    t.must(Ns::Proxy, &["sh", "-c", &format!("{pagent} setup-intercept -c {conf} --local | nft -f -")]);
    let ca_s = ca.display().to_string();
    let https = url.replace("http:", "https:");
    let page = t.must(Ns::Proxy, &["curl", "-sS", "--max-time", "10", "--cacert", &ca_s, &https]);
    assert_eq!(page, "hello from this host\n", "{}", agent.log_text());
    let plain = t.exec(Ns::Proxy, &["curl", "-sS", "--max-time", "5", url]).expect("curl runs");
    assert!(!plain.status.success(), "a plaintext request passed a port the policy protects");
    let log = agent.log_text();
    assert!(log.contains("rule=\"WEB~8080\"") && log.contains("local=127.0.0.1:8080"), "{log}");
    // The agent's own connection to the server (marked) was not intercepted again.
    assert!(!log.contains("reached the listener directly"), "{log}");
}
