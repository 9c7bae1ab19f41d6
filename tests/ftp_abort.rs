//! FTP data connections that break, and the session reuse that binds data connections to their
//! control connection: a client that resets or cuts (no close_notify) an upload gets 426 and the
//! unmodified server an aborted transfer, never a 226 for a short file; a data connection offering
//! another control connection's session gets 522; TLS 1.2 resumes by session ID as well as by
//! ticket; upload data connections carry no TLS 1.3 tickets (the client never reads them).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustls::client::{
    ClientSessionMemoryCache, ClientSessionStore, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, HandshakeKind, NamedGroup, StreamOwned};

use crate::ftp_integrity::{Client, Op, Target, Tls, ftps_agent};
use crate::support::agent::{AgentProc, Pki};
use crate::support::ftp::{ClientRun, FtpServer, Pyftpd, Vsftpd, ftplib, ftplib_args};

/// ftplib explicit FTPS with PROT P and `options`, then `ops`.
pub fn ftplib_run(
    agent: &AgentProc,
    server: &dyn FtpServer,
    pki: &Pki,
    options: &[&str],
    ops: &[&str],
) -> ClientRun {
    let mut args = ftplib_args(agent.addr("FTP1"), server.login());
    args.extend(["--tls", "explicit", "--cafile"].map(String::from));
    args.push(pki.ca.display().to_string());
    args.push("--prot-p".into());
    args.extend(options.iter().chain(ops).map(|s| s.to_string()));
    ftplib(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A broken upload (`op`: `stor-reset` or `stor-cut`) of 1 MiB of a 4 MiB file under `tls`: the
/// client gets 426, vsftpd logs a failed upload, the agent says why.
fn broken_upload(op: &str, tls: Tls, why: &str) {
    let server = Vsftpd::start();
    let (agent, pki) = ftps_agent(&format!("ftp-{op}-{tls:?}").to_lowercase(), &server, tls, &[], &[]);
    let (src, _) = crate::support::ftp::random_file(agent.dir(), "big.bin", 4 << 20);
    let remote = "upload/cut.bin";
    let run = ftplib_run(
        &agent,
        &server,
        &pki,
        &["--reuse-session"],
        &[op, &src.display().to_string(), remote, "1048576"],
    );
    // 426 from the server (it saw the reset) or from attls (a positive reply replaced).
    assert!(run.stdout.contains(&format!("{op}: 426 ")), "the client must get 426:\n{run}");
    assert!(
        crate::support::agent::eventually(Duration::from_secs(10), || server
            .log_text()
            .contains("FAIL UPLOAD")),
        "vsftpd must see an aborted upload, not a complete one:\n{}",
        server.log_text()
    );
    assert!(!server.log_text().contains("OK UPLOAD"), "{}", server.log_text());
    let log = agent.log_text();
    assert!(log.contains("data connection aborted, both sides reset") && log.contains(why), "{log}");
}

#[test]
fn a_client_reset_mid_upload_gives_the_server_an_aborted_transfer_and_the_client_426() {
    broken_upload("stor-reset", Tls::V13, "reading from the client failed");
    broken_upload("stor-reset", Tls::V12Only, "reading from the client failed");
}

/// pyftpdlib takes a reset upload for a complete one and answers 226 (as proftpd did in the field):
/// attls replaces that reply with its own 426.
#[test]
fn a_server_that_answers_226_for_a_reset_upload_is_overruled_with_426() {
    let server = Pyftpd::start();
    for tls in [Tls::V13, Tls::V12Only] {
        let (agent, pki) =
            ftps_agent(&format!("ftp-careless-{tls:?}").to_lowercase(), &server, tls, &[], &[]);
        let (src, _) = crate::support::ftp::random_file(agent.dir(), "big.bin", 4 << 20);
        let args = ["stor-reset", &src.display().to_string(), "upload/careless.bin", "1048576"];
        let run = ftplib_run(&agent, &server, &pki, &["--reuse-session"], &args);
        assert!(
            run.stdout.contains("stor-reset: 426 Transfer aborted: reading from the client failed"),
            "{tls:?}:\n{run}"
        );
        assert!(
            server.log_text().contains("226 Transfer complete"),
            "pyftpdlib said 226:\n{}",
            server.log_text()
        );
    }
}

#[test]
fn an_upload_cut_without_close_notify_gives_426_not_a_short_file() {
    broken_upload("stor-cut", Tls::V13, "truncated: the client ended its stream without close_notify");
    broken_upload("stor-cut", Tls::V12Only, "truncated: the client ended its stream without close_notify");
}

#[test]
fn a_data_connection_resuming_another_control_connections_session_gets_522() {
    let server = Pyftpd::start();
    server.random_file("f.bin", 1000);
    for tls in [Tls::V13, Tls::V12Only] {
        let (agent, pki) = ftps_agent(&format!("ftp-foreign-{tls:?}").to_lowercase(), &server, tls, &[], &[]);
        let got = agent.dir().join("f.bin").display().to_string();
        let run = ftplib_run(&agent, &server, &pki, &["--foreign-session"], &["retr", "f.bin", &got]);
        run.assert_failed();
        assert!(run.stdout.contains("522 TLS session reuse required"), "{tls:?}:\n{run}");
        // The same client resuming its own control session gets the file.
        ftplib_run(&agent, &server, &pki, &["--reuse-session"], &["retr", "f.bin", &got]).assert_ok();
    }
}

#[test]
fn tls12_data_connections_resume_by_session_id_as_well_as_by_ticket() {
    let server = Vsftpd::start();
    let (src, _) = server.random_file("id.bin", 300_000);
    // The agent issues no tickets: every client resumes by session ID.
    let gsk = ["GSK_SESSION_TICKET_SERVER_ENABLE Off"];
    let (agent, pki) = ftps_agent("ftp-tls12-sid", &server, Tls::V12Only, &[], &gsk);
    let target = Target { agent: &agent, server: &server, pki: &pki };
    for (i, client) in
        [Client::CurlPassive, Client::LftpPassive, Client::FtplibActive].into_iter().enumerate()
    {
        let ops = [
            Op::Retr("id.bin".into(), agent.dir().join(format!("id{i}.bin"))),
            Op::Stor(src.clone(), format!("id{i}.bin")),
        ];
        target.run(client, &ops).assert_ok();
        assert!(target.mismatches(&ops).is_empty(), "{client:?}: {:?}", target.mismatches(&ops));
    }
    // Tickets on, but a client that refuses them (OpenSSL's SSL_OP_NO_TICKET) resumes by session ID.
    let (agent, pki) = ftps_agent("ftp-tls12-noticket", &server, Tls::V12Only, &[], &[]);
    let got = agent.dir().join("nt.bin").display().to_string();
    let run = ftplib_run(
        &agent,
        &server,
        &pki,
        &["--reuse-session", "--no-ticket"],
        &["retr", "id.bin", &got, "nlst"],
    );
    run.assert_ok();
    assert!(run.stdout.contains("data-tls: TLSv1.2") && run.stdout.contains("reused=True"), "{run}");
}

/// A client session store that counts the TLS 1.3 tickets it is given.
#[derive(Debug)]
struct CountingStore {
    inner: ClientSessionMemoryCache,
    tickets: AtomicUsize,
}

impl ClientSessionStore for CountingStore {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.inner.set_kx_hint(server_name, group)
    }
    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        self.inner.kx_hint(server_name)
    }
    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.inner.set_tls12_session(server_name, value)
    }
    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.inner.tls12_session(server_name)
    }
    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.inner.remove_tls12_session(server_name)
    }
    fn insert_tls13_ticket(&self, server_name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.tickets.fetch_add(1, Ordering::SeqCst);
        self.inner.insert_tls13_ticket(server_name, value)
    }
    fn take_tls13_ticket(&self, server_name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.inner.take_tls13_ticket(server_name)
    }
}

type Tls13Stream = StreamOwned<ClientConnection, TcpStream>;

/// A minimal FTPS client on rustls: one control connection, passive data connections.
struct RustlsFtp {
    config: Arc<rustls::ClientConfig>,
    control: BufReader<Tls13Stream>,
}

impl RustlsFtp {
    fn login(
        addr: SocketAddr,
        pki: &Pki,
        login: crate::support::ftp::Login,
        store: Arc<CountingStore>,
    ) -> RustlsFtp {
        let mut config = (*crate::support::agent::peers::client_config(&pki.ca)).clone();
        config.resumption = rustls::client::Resumption::store(store);
        let config = Arc::new(config);
        let mut tcp = TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let mut plain = BufReader::new(tcp.try_clone().expect("clone"));
        let mut line = String::new();
        plain.read_line(&mut line).expect("220");
        tcp.write_all(b"AUTH TLS\r\n").expect("AUTH");
        line.clear();
        plain.read_line(&mut line).expect("234");
        assert!(line.starts_with("234"), "{line}");
        let conn = ClientConnection::new(config.clone(), name()).expect("client");
        let mut ftp = RustlsFtp { config, control: BufReader::new(StreamOwned::new(conn, tcp)) };
        ftp.cmd(&format!("USER {}", login.user));
        for c in [format!("PASS {}", login.password), "PBSZ 0".into(), "PROT P".into(), "TYPE I".into()] {
            let r = ftp.cmd(&c);
            assert!(r.starts_with('2'), "{c}: {r}");
        }
        ftp
    }

    fn reply(&mut self) -> String {
        let mut line = String::new();
        self.control.read_line(&mut line).expect("reply");
        line
    }

    fn cmd(&mut self, c: &str) -> String {
        self.control.get_mut().write_all(format!("{c}\r\n").as_bytes()).expect("send");
        self.reply()
    }

    /// PASV, then `verb`, then the data connection under TLS: returns it with the preliminary reply.
    fn data(&mut self, verb: &str) -> (Tls13Stream, String) {
        let r = self.cmd("PASV");
        let nums: Vec<u16> = r[r.find('(').expect("(") + 1..r.find(')').expect(")")]
            .split(',')
            .map(|n| n.trim().parse().expect("n"))
            .collect();
        let addr: SocketAddr = format!("127.0.0.1:{}", nums[4] * 256 + nums[5]).parse().expect("addr");
        let tcp = TcpStream::connect(addr).expect("data");
        tcp.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        let preliminary = self.cmd(verb);
        let mut tls =
            StreamOwned::new(ClientConnection::new(self.config.clone(), name()).expect("client"), tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).expect("data handshake");
        }
        (tls, preliminary)
    }
}

fn name() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("name")
}

#[test]
fn upload_data_connections_carry_no_tls13_tickets_and_downloads_do() {
    let server = Vsftpd::start();
    let (_, sum) = server.random_file("t.bin", 200_000);
    let (agent, pki) = ftps_agent("ftp-tickets", &server, Tls::V13, &[], &[]);
    let store =
        Arc::new(CountingStore { inner: ClientSessionMemoryCache::new(32), tickets: AtomicUsize::new(0) });
    let mut ftp = RustlsFtp::login(agent.addr("FTP1"), &pki, server.login(), store.clone());
    let control_tickets = store.tickets.load(Ordering::SeqCst);
    assert!(control_tickets >= 1, "the control connection issues tickets");
    // An upload: resumed, and no ticket the client would have to read.
    let (mut data, first) = ftp.data("STOR upload/t.bin");
    assert!(first.starts_with("150"), "{first}");
    assert_eq!(data.conn.handshake_kind(), Some(HandshakeKind::Resumed));
    data.write_all(&vec![7u8; 300_000]).expect("upload");
    data.conn.send_close_notify();
    data.flush().expect("flush");
    let mut rest = Vec::new();
    let _ = data.read_to_end(&mut rest);
    drop(data);
    let done = ftp.reply();
    assert!(done.starts_with("226"), "{done}");
    assert_eq!(
        store.tickets.load(Ordering::SeqCst),
        control_tickets,
        "an upload data connection sent tickets"
    );
    assert_eq!(std::fs::metadata(server.upload_dir().join("t.bin")).expect("stored").len(), 300_000);
    // A download: the client reads the data connection to its end, tickets included.
    let (mut data, first) = ftp.data("RETR t.bin");
    assert!(first.starts_with("150"), "{first}");
    assert_eq!(data.conn.handshake_kind(), Some(HandshakeKind::Resumed));
    let mut got = Vec::new();
    data.read_to_end(&mut got).expect("download");
    assert_eq!(got.len(), 200_000);
    let local = agent.dir().join("t.bin");
    std::fs::write(&local, &got).expect("write");
    assert_eq!(crate::support::ftp::sha256_file(&local), sum);
    assert!(ftp.reply().starts_with("226"));
    assert!(
        store.tickets.load(Ordering::SeqCst) > control_tickets,
        "a download data connection brings tickets"
    );
}

#[test]
fn a_failed_data_handshake_logs_its_return_code_and_resets_like_any_connection() {
    let server = Vsftpd::start();
    server.random_file("h.bin", 1000);
    let (agent, pki) = ftps_agent("ftp-data-hs", &server, Tls::V13, &[], &[]);
    let store =
        Arc::new(CountingStore { inner: ClientSessionMemoryCache::new(8), tickets: AtomicUsize::new(0) });
    let mut ftp = RustlsFtp::login(agent.addr("FTP1"), &pki, server.login(), store);
    let r = ftp.cmd("PASV");
    let nums: Vec<u16> = r[r.find('(').expect("(") + 1..r.find(')').expect(")")]
        .split(',')
        .map(|n| n.trim().parse().expect("n"))
        .collect();
    let mut data = TcpStream::connect(("127.0.0.1", nums[4] * 256 + nums[5])).expect("data");
    data.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    assert!(ftp.cmd("RETR h.bin").starts_with("150"));
    // Not a ClientHello: the one handshake fails, logs its return code and resets the connection.
    data.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send");
    // rustls's alert may come first; then the reset.
    let mut buf = [0u8; 64];
    let end = loop {
        match data.read(&mut buf) {
            Ok(n) if n > 0 => continue,
            other => break other,
        }
    };
    assert!(
        matches!(&end, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "a reset, not a FIN: {end:?}"
    );
    let reply = ftp.reply();
    assert!(reply.starts_with("522") || reply.starts_with("426"), "{reply}");
    let log = agent.log_text();
    assert!(
        log.contains("handshake failed") && log.contains("rc=5003") && log.contains("how=\"FTP data\""),
        "{log}"
    );
}

#[test]
fn data_connections_count_against_the_listeners_max_connections() {
    let server = Pyftpd::start();
    server.random_file("m.bin", 1000);
    // One place: the control connection takes it, so its data connection is refused (reset; 522).
    let (agent, pki) = ftps_agent("ftp-maxconn", &server, Tls::V13, &["MaxConnections 1"], &[]);
    let got = agent.dir().join("m.bin").display().to_string();
    let run = ftplib_run(&agent, &server, &pki, &["--reuse-session"], &["retr", "m.bin", &got]);
    run.assert_failed();
    let log = agent.log_text();
    assert!(log.contains("data connection refused: MaxConnections reached"), "{run}\n{log}");
    // With two places the same transfer goes through.
    let (agent, pki) = ftps_agent("ftp-maxconn2", &server, Tls::V13, &["MaxConnections 2"], &[]);
    ftplib_run(&agent, &server, &pki, &["--reuse-session"], &["retr", "m.bin", &got]).assert_ok();
}
