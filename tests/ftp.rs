//! The FTP helper with real parts: vsftpd and pyftpdlib as the unmodified plaintext servers, curl,
//! lftp, Python ftplib and `openssl s_client -starttls ftp` as clients, attls in between playing
//! the AT-TLS-aware FTP server (docs/policy-reference.md#ftp-helper). Files go both ways with their
//! SHA-256 compared.
//!
//! curl 7.88 (Debian 12) does not start TLS on active data connections (curl issue 10666, fixed in
//! 8.0), so active mode under PROT P is tested with lftp and ftplib, and with curl under PROT C.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::agent::{AgentProc, AgentSetup, Pki, eventually, policy};
use crate::support::ftp::{
    FtpServer, Lftp, Pyftpd, Vsftpd, curl, ftplib, ftplib_args, lftp_open, sha256_file,
};

const WAIT: Duration = Duration::from_secs(20);

/// An agent with listener FTP1 (`Protocol Ftp` plus `extra`) in front of `server`, whose rule is
/// application-controlled (explicit FTPS) with SecondaryMap On, unless `implicit`.
fn ftp_agent(tag: &str, server: &dyn FtpServer, extra: &[&str], implicit: bool) -> (AgentProc, Pki) {
    let setup = AgentSetup::new(tag);
    let pki = setup.pki("pki");
    let control = if implicit { "ApplicationControlled Off" } else { "ApplicationControlled On" };
    let rule = policy::server_rule("ftp~ctl", "FTP1", &pki.server_ring, &[control, "SecondaryMap On"], None);
    let mut lines = vec!["Protocol Ftp"];
    lines.extend_from_slice(extra);
    let agent = setup.listener_with("FTP1", server.addr(), "Inbound", &lines).policy(&rule).start();
    (agent, pki)
}

/// The certificate is for `localhost`, so clients dial that name.
fn curl_url(agent: &AgentProc, server: &dyn FtpServer, scheme: &str, path: &str) -> String {
    crate::support::ftp::url(scheme, agent.addr("FTP1"), server.login(), path)
        .replace("127.0.0.1", "localhost")
}

fn lftp_login(agent: &AgentProc, server: &dyn FtpServer) -> String {
    lftp_open(agent.addr("FTP1"), server.login()).replace("127.0.0.1", "localhost")
}

fn ftplib_tls(agent: &AgentProc, server: &dyn FtpServer, pki: &Pki, extra: &[&str]) -> Vec<String> {
    let mut a = ftplib_args(agent.addr("FTP1"), server.login());
    a.extend(["--tls", "explicit", "--cafile"].map(String::from));
    a.push(pki.ca.display().to_string());
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn run_ftplib(args: &[String]) -> crate::support::ftp::ClientRun {
    ftplib(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// RETR and STOR of `sizes` with curl (passive, `--ssl-reqd`), checked by SHA-256 at both ends, and
/// a LIST that shows them.
fn curl_round_trips(agent: &AgentProc, server: &dyn FtpServer, pki: &Pki, sizes: &[usize], active: bool) {
    let ca = pki.ca.display().to_string();
    let out_dir = agent.dir().join("curl-out");
    std::fs::create_dir_all(&out_dir).expect("dir");
    let mode: &[&str] = if active { &["-P", "-"] } else { &[] };
    for &len in sizes {
        let name = format!("f{len}.bin");
        let (_, sum) = server.random_file(&name, len);
        let got = out_dir.join(&name);
        let url = curl_url(agent, server, "ftp", &name);
        let mut args = vec!["-sS", "--ssl-reqd", "--cacert", &ca, "-o"];
        let got_s = got.display().to_string();
        args.push(&got_s);
        args.extend_from_slice(mode);
        args.push(&url);
        curl(&args).assert_ok();
        assert_eq!(sha256_file(&got), sum, "RETR {len} B through attls from {}", server.name());
        let up = format!("{}/u{len}.bin", upload_path(server));
        let url = curl_url(agent, server, "ftp", &up);
        let mut args = vec!["-sS", "--ssl-reqd", "--cacert", &ca, "-T", &got_s];
        args.extend_from_slice(mode);
        args.push(&url);
        curl(&args).assert_ok();
        let stored = server.upload_dir().join(format!("u{len}.bin"));
        assert_eq!(sha256_file(&stored), sum, "STOR {len} B through attls to {}", server.name());
    }
    let url = curl_url(agent, server, "ftp", "");
    let list = curl(&["-sS", "--ssl-reqd", "--cacert", &ca, &url]);
    list.assert_ok();
    for &len in sizes {
        assert!(list.stdout.contains(&format!("f{len}.bin")), "LIST misses f{len}.bin:\n{list}");
    }
}

/// The upload directory as an FTP path (relative to the login's root).
fn upload_path(server: &dyn FtpServer) -> String {
    server.upload_dir().strip_prefix(server.root()).expect("upload dir under root").display().to_string()
}

#[test]
fn explicit_ftps_with_curl_in_front_of_vsftpd_moves_files_intact() {
    let server = Vsftpd::start();
    let (agent, pki) = ftp_agent("ftp-vsftpd", &server, &[], false);
    curl_round_trips(&agent, &server, &pki, &[0, 1, 10 << 20, 100 << 20], false);
    // The unmodified server never saw a security command: attls answered them itself.
    let seen = server.commands();
    for verb in ["AUTH", "PBSZ", "PROT"] {
        assert!(!seen.iter().any(|c| c.starts_with(verb)), "{verb} reached vsftpd: {seen:?}");
    }
}

#[test]
fn explicit_ftps_with_lftp_and_ftplib_in_front_of_pyftpdlib() {
    let server = Pyftpd::start();
    let (agent, pki) = ftp_agent("ftp-pyftpd", &server, &[], false);
    let (src, sum) = server.random_file("lftp.bin", 10 << 20);
    let local = agent.dir().join("lftp-got.bin");
    let script = format!(
        "{}; get {} -o {}; put {} -o {}/lftp-up.bin; cls -1",
        lftp_login(&agent, &server),
        "lftp.bin",
        local.display(),
        src.display(),
        upload_path(&server)
    );
    let run = Lftp::new().ssl_force(true).ca_file(&pki.ca).run(&script);
    run.assert_ok();
    assert_eq!(sha256_file(&local), sum);
    assert_eq!(sha256_file(&server.upload_dir().join("lftp-up.bin")), sum);
    assert!(run.stdout.contains("lftp.bin"), "{run}");
    // ftplib, resuming the control session on its data connections, both modes.
    for mode in [&[][..], &["--active"][..]] {
        let got = agent.dir().join("ftplib-got.bin");
        let mut args = ftplib_tls(&agent, &server, &pki, &["--prot-p", "--reuse-session"]);
        args.extend(mode.iter().map(|s| s.to_string()));
        args.extend(["retr", "lftp.bin", &got.display().to_string(), "nlst"].map(String::from));
        let run = run_ftplib(&args);
        run.assert_ok();
        assert!(run.stdout.contains("data-tls: TLSv1.3") && run.stdout.contains("reused=True"), "{run}");
        assert_eq!(sha256_file(&got), sum);
    }
}

#[test]
fn active_mode_with_lftp_under_prot_p_and_curl_under_prot_c() {
    let server = Vsftpd::start();
    let (agent, pki) = ftp_agent("ftp-active", &server, &[], false);
    let (_, sum) = server.random_file("act.bin", 1 << 20);
    let local = agent.dir().join("act-got.bin");
    let script = format!("{}; get act.bin -o {}", lftp_login(&agent, &server), local.display());
    Lftp::new().ssl_force(true).ca_file(&pki.ca).active().run(&script).assert_ok();
    assert_eq!(sha256_file(&local), sum);
    // curl 7.88 cannot protect active data (see the module doc): PROT C, control still TLS.
    let ca = pki.ca.display().to_string();
    let url = curl_url(&agent, &server, "ftp", "act.bin");
    let got = agent.dir().join("act-curl.bin").display().to_string();
    curl(&["-sS", "--ftp-ssl-control", "--cacert", &ca, "-P", "-", "-o", &got, &url]).assert_ok();
    assert_eq!(sha256_file(std::path::Path::new(&got)), sum);
}

#[test]
fn implicit_ftps_handshakes_first_and_protects_data_from_the_start() {
    let server = Vsftpd::start();
    let (agent, pki) = ftp_agent("ftp-implicit", &server, &[], true);
    let (_, sum) = server.random_file("imp.bin", 1 << 20);
    let ca = pki.ca.display().to_string();
    let url = curl_url(&agent, &server, "ftps", "imp.bin");
    let got = agent.dir().join("imp-got.bin");
    curl(&["-sS", "--cacert", &ca, "-o", &got.display().to_string(), &url]).assert_ok();
    assert_eq!(sha256_file(&got), sum);
}

#[test]
fn session_reuse_required_refuses_a_fresh_data_session_with_522() {
    let server = Pyftpd::start();
    let (agent, pki) = ftp_agent("ftp-reuse", &server, &[], false);
    server.random_file("r.bin", 1000);
    let got = agent.dir().join("r.bin").display().to_string();
    // Plain ftplib does not resume the control session on its data connections.
    let run = run_ftplib(&ftplib_tls(&agent, &server, &pki, &["--prot-p", "retr", "r.bin", &got]));
    run.assert_failed();
    assert!(run.stdout.contains("522 TLS session reuse required"), "{run}");
    // With SessionReuse Allowed the same client gets its file.
    let (agent, pki) = ftp_agent("ftp-reuse-allowed", &server, &["SessionReuse Allowed"], false);
    run_ftplib(&ftplib_tls(&agent, &server, &pki, &["--prot-p", "retr", "r.bin", &got])).assert_ok();
}

#[test]
fn security_settings_refuse_with_the_z_os_replies() {
    let server = Vsftpd::start();
    server.random_file("s.bin", 10);
    let extra = ["SecureFtp Required", "SecureDataConn Private", "Ccc Allowed"];
    let (agent, pki) = ftp_agent("ftp-sec", &server, &extra, false);
    // SecureFtp Required: USER before AUTH gets 530 and never reaches the server.
    let mut args = ftplib_args(agent.addr("FTP1"), server.login());
    args.extend(["--no-login", "raw", "USER anonymous"].map(String::from));
    let run = run_ftplib(&args);
    assert!(run.stdout.contains("530 Log in with AUTH TLS first"), "{run}");
    assert!(!server.commands().iter().any(|c| c.starts_with("USER")), "{:?}", server.commands());
    // SecureDataConn Private: PROT C is refused (536), a transfer without PROT P gets 521.
    let got = agent.dir().join("s.bin").display().to_string();
    let run =
        run_ftplib(&ftplib_tls(&agent, &server, &pki, &["raw", "PBSZ 0", "prot-c", "retr", "s.bin", &got]));
    assert!(run.stdout.contains("536"), "{run}");
    let run = run_ftplib(&ftplib_tls(&agent, &server, &pki, &["retr", "s.bin", &got]));
    assert!(run.stdout.contains("521"), "{run}");
    // CCC (allowed here): the control connection goes clear and the session carries on.
    let args =
        ftplib_tls(&agent, &server, &pki, &["--prot-p", "--reuse-session", "ccc", "retr", "s.bin", &got]);
    let run = run_ftplib(&args);
    run.assert_ok();
    assert!(run.stdout.contains("ccc: 200"), "{run}");
    assert!(agent.log_text().contains("control connection clear after CCC"), "{}", agent.log_text());
}

#[test]
fn openssl_starttls_ftp_gets_234_a_verified_certificate_and_attls_features() {
    let server = Vsftpd::start();
    let (agent, pki) = ftp_agent("ftp-openssl", &server, &[], false);
    let run = crate::support::ftp::openssl_starttls_ftp(agent.addr("FTP1").port(), &pki.ca, "FEAT\nQUIT\n");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("Verification: OK") || all.contains("Verify return code: 0 (ok)"), "{run}");
    for feature in [" AUTH TLS", " PBSZ", " PROT"] {
        assert!(run.stdout.contains(feature), "FEAT lacks{feature}: {run}");
    }
    assert!(run.stdout.contains("TLSv1.3"), "{run}");
}

/// A plain FTP control session by hand (no rule applies: plain FTP, still proxied and rewritten).
struct Plain {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Plain {
    /// Connected, greeting read, not logged in.
    fn open_unlogged(addr: SocketAddr) -> Plain {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut p = Plain { r: BufReader::new(s.try_clone().expect("clone")), w: s };
        p.reply();
        p
    }

    fn open(addr: SocketAddr, user: &str, pass: &str) -> Plain {
        let mut p = Plain::open_unlogged(addr);
        p.cmd(&format!("USER {user}"));
        p.cmd(&format!("PASS {pass}"));
        p
    }
    fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).expect("reply line");
            all.push_str(&line);
            if line.len() >= 4 && line.as_bytes()[3] == b' ' || line.is_empty() {
                return all;
            }
        }
    }
    fn cmd(&mut self, c: &str) -> String {
        self.w.write_all(format!("{c}\r\n").as_bytes()).expect("send");
        self.reply()
    }
    fn pasv(&mut self) -> SocketAddr {
        let r = self.cmd("PASV");
        assert!(r.starts_with("227 "), "{r}");
        let nums: Vec<u16> = r[r.find('(').expect("(") + 1..r.find(')').expect(")")]
            .split(',')
            .map(|n| n.trim().parse().expect("number"))
            .collect();
        format!("{}.{}.{}.{}:{}", nums[0], nums[1], nums[2], nums[3], nums[4] * 256 + nums[5])
            .parse()
            .expect("addr")
    }
}

#[test]
fn plain_ftp_is_rewritten_too_and_a_data_connection_from_another_address_is_refused() {
    let server = Vsftpd::start();
    server.put_file("p.txt", b"plain data\n");
    let setup = AgentSetup::new("ftp-plain");
    let agent = setup
        .listener_with("FTP1", server.addr(), "Inbound", &["Protocol Ftp", "NoPolicy Clear"])
        .policy(&policy::off_rule("nomatch~1", "NOMATCH"))
        .start();
    let mut c = Plain::open(agent.addr("FTP1"), server.login().user, server.login().password);
    let data = c.pasv();
    assert_eq!(data.ip().to_string(), "127.0.0.1", "the 227 names attls, not the server");
    assert_ne!(data.port(), 0);
    // Port theft: a connection from 127.0.0.2 is closed at once; the client's own still works.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.bind(&"127.0.0.2:0".parse::<SocketAddr>().expect("addr").into()).expect("bind 127.0.0.2");
    sock.connect(&data.into()).expect("the thief reaches the port");
    let mut thief: TcpStream = sock.into();
    thief.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut buf = [0u8; 64];
    assert!(matches!(thief.read(&mut buf), Ok(0) | Err(_)), "the thief got data");
    let mut d = TcpStream::connect(data).expect("data connection");
    d.set_read_timeout(Some(WAIT)).expect("timeout");
    let r = c.cmd("RETR p.txt");
    assert!(r.starts_with("150"), "{r}");
    let mut got = Vec::new();
    d.read_to_end(&mut got).expect("data");
    assert_eq!(got, b"plain data\n");
    assert!(c.reply().starts_with("226"), "transfer reply");
    assert!(agent.log_text().contains("port theft"), "{}", agent.log_text());
}

#[test]
fn netstat_shows_the_data_connection_as_secondary_of_its_control_connection() {
    let server = Vsftpd::start();
    // As in policies/ftp.pol: the data ports have a rule of their own with a lower priority, so a
    // data connection takes its control connection's rule (D8). Passive ports lie above Linux's
    // ephemeral range, where the listener's own port never is.
    let setup = AgentSetup::new("ftp-netstat");
    let pki = setup.pki("pki");
    let env = policy::env("Server", &pki.server_ring, &["ApplicationControlled On", "SecondaryMap On"], None);
    let control =
        policy::tls_rule("ftp~ctl", "FTP1", "Inbound", "  Priority 300\n  LocalPortRange 1024-60999", &env);
    let data =
        policy::tls_rule("ftp~data", "FTP1", "Inbound", "  Priority 100\n  LocalPortRange 61000-61999", &env);
    let agent = setup
        .listener_with("FTP1", server.addr(), "Inbound", &["Protocol Ftp", "PassivePorts 61000-61999"])
        .policy(&format!("{control}{data}"))
        .start();
    server.random_file("slow.bin", 4 << 20);
    let ca = pki.ca.display().to_string();
    let url = curl_url(&agent, &server, "ftp", "slow.bin");
    let out = agent.dir().join("slow.bin").display().to_string();
    let transfer = std::thread::spawn(move || {
        curl(&["-sS", "--ssl-reqd", "--cacert", &ca, "--limit-rate", "1M", "-o", &out, &url])
    });
    let mut rows = Vec::new();
    let seen = eventually(WAIT, || {
        rows = agent.connections();
        rows.iter().any(|c| c["map_type"] == "Secondary" && c["conn_status"] == "SECURE")
    });
    if !seen {
        panic!("no Secondary connection while transferring: {rows:?}\n{}", transfer.join().expect("curl"));
    }
    let control = rows.iter().find(|c| c["map_type"] == "Primary").expect("the control connection");
    let data =
        rows.iter().find(|c| c["map_type"] == "Secondary" && c["conn_status"] == "SECURE").expect("data");
    assert_eq!(data["primary_conn"], control["conn"], "{rows:?}");
    assert_eq!(data["rule"], "ftp~ctl");
    assert_eq!(data["conn_status"], "SECURE");
    let text = agent.netstat();
    assert!(text.contains("Secondary") && text.contains("Primary"), "{text}");
    transfer.join().expect("curl").assert_ok();
}

#[test]
fn five_hundred_transfers_in_one_session_keep_the_descriptor_count_flat() {
    let server = Pyftpd::start();
    let (agent, pki) = ftp_agent("ftp-fds", &server, &[], false);
    server.random_file("tiny.bin", 100);
    let before = agent.open_fds();
    let mut ops = vec!["--prot-p".to_string(), "--reuse-session".to_string()];
    for _ in 0..500 {
        ops.push("nlst".into());
    }
    let refs: Vec<&str> = ops.iter().map(String::as_str).collect();
    let run = run_ftplib(&ftplib_tls(&agent, &server, &pki, &refs));
    run.assert_ok();
    assert_eq!(
        run.stdout.matches("nlst| tiny.bin").count(),
        500,
        "{}",
        &run.stdout[..run.stdout.len().min(2000)]
    );
    assert!(
        eventually(WAIT, || agent.open_fds() <= before + 2),
        "fds: {before} before, {} after",
        agent.open_fds()
    );
}

#[test]
fn secure_login_required_wants_a_client_certificate_before_user() {
    let server = Vsftpd::start();
    let setup = AgentSetup::new("ftp-login");
    let pki = setup.pki("pki");
    let env = policy::env(
        "ServerWithClientAuth",
        &pki.server_ring,
        &["ApplicationControlled On", "SecondaryMap On", "ClientAuthType Full"],
        None,
    );
    let rule = policy::tls_rule("ftp~login", "FTP1", "Inbound", "", &env);
    let lines = ["Protocol Ftp", "SecureLogin Required"];
    let agent = setup.listener_with("FTP1", server.addr(), "Inbound", &lines).policy(&rule).start();
    // Without a certificate: 531 to USER, which never reaches the server.
    let run = run_ftplib(&ftplib_tls(&agent, &server, &pki, &["pwd"]));
    assert!(run.stdout.contains("531"), "{run}");
    assert!(!server.commands().iter().any(|c| c.starts_with("USER")), "{:?}", server.commands());
    // With the client certificate the login goes through.
    let cert = pki.client_pem.display().to_string();
    let key = pki.client_key.display().to_string();
    let run = run_ftplib(&ftplib_tls(&agent, &server, &pki, &["--cert", &cert, "--key", &key, "pwd"]));
    run.assert_ok();
}

#[test]
fn a_command_right_behind_the_clients_close_notify_after_ccc_is_not_lost() {
    use rustls::pki_types::ServerName;
    let server = Vsftpd::start();
    let (agent, pki) = ftp_agent("ftp-ccc-race", &server, &["Ccc Allowed"], false);
    let mut p = Plain::open_unlogged(agent.addr("FTP1"));
    assert!(p.cmd("AUTH TLS").starts_with("234"));
    let conn = rustls::ClientConnection::new(
        crate::support::agent::peers::client_config(&pki.ca),
        ServerName::try_from("localhost").expect("name"),
    )
    .expect("client");
    let mut tls = rustls::StreamOwned::new(conn, p.w.try_clone().expect("clone"));
    let reply = |tls: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>, c: &str| {
        tls.write_all(format!("{c}\r\n").as_bytes()).expect("send");
        let mut r = BufReader::new(&mut *tls);
        let mut line = String::new();
        r.read_line(&mut line).expect("reply");
        line
    };
    let login = server.login();
    reply(&mut tls, &format!("USER {}", login.user));
    assert!(reply(&mut tls, &format!("PASS {}", login.password)).starts_with("230"));
    assert!(reply(&mut tls, "CCC").starts_with("200"));
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest).expect("the agent's close_notify");
    // Our close_notify and the next command in one segment.
    tls.conn.send_close_notify();
    let mut segment = Vec::new();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut segment).expect("record");
    }
    segment.extend_from_slice(b"NOOP\r\n");
    p.w.write_all(&segment).expect("send");
    let mut line = String::new();
    p.r = BufReader::new(p.w.try_clone().expect("clone"));
    p.r.read_line(&mut line).expect("NOOP answered in clear");
    assert!(line.starts_with("200"), "{line}");
}
