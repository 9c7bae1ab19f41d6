//! Every connection count and wait has a bound with a keyword: `MaxConnectionsPerSource` resets a
//! client address's connection over the limit while other addresses are served, `IdleTimeout`
//! closes a relay that moves nothing (and resets one whose peer stopped reading), `ConnectTimeout`
//! gives up on a backend that does not accept.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::agent::peers::{Backend, client_config, round_trip, tls_connect};
use crate::support::agent::{AgentSetup, policy};

const WAIT: Duration = Duration::from_secs(10);

fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let from: SocketAddr = format!("{source}:0").parse().expect("addr");
    sock.bind(&from.into()).expect("bind the source address");
    sock.connect(&to.into()).expect("connect");
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s
}

#[test]
fn max_connections_per_source_resets_the_one_over_the_limit_and_serves_other_addresses() {
    let setup = AgentSetup::new("lim-source");
    let backend = Backend::echo();
    let lines = ["NoPolicy Clear", "MaxConnectionsPerSource 2"];
    let agent = setup
        .listener_with("SRC1", backend.addr(), "Inbound", &lines)
        .policy(&policy::off_rule("x~1", "OTHER"))
        .start();
    let at = agent.addr("SRC1");
    let mut kept = Vec::new();
    for i in 0..2 {
        let mut s = connect_from("127.0.0.1", at);
        assert_eq!(round_trip(&mut s, b"in\n").expect("served"), b"in\n", "connection {i}");
        kept.push(s);
    }
    let mut third = connect_from("127.0.0.1", at);
    // Nothing written first: the reset's error is then the read's.
    let mut buf = [0u8; 16];
    let end = third.read(&mut buf);
    assert!(
        matches!(&end, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "third from one address: {end:?}"
    );
    // Another address is served meanwhile, and the first address again once one of its closes.
    let mut other = connect_from("127.0.0.2", at);
    assert_eq!(round_trip(&mut other, b"other\n").expect("served"), b"other\n");
    drop(kept.pop());
    std::thread::sleep(Duration::from_millis(300));
    let mut again = connect_from("127.0.0.1", at);
    assert_eq!(round_trip(&mut again, b"again\n").expect("served"), b"again\n");
    assert!(agent.log_text().contains("MaxConnectionsPerSource"), "{}", agent.log_text());
}

#[test]
fn idle_timeout_closes_a_relay_that_moves_nothing_with_close_notify() {
    let setup = AgentSetup::new("lim-idle");
    let pki = setup.pki("pki");
    let backend = Backend::echo();
    let rule = policy::server_rule("idle~1", "IDLE1", &pki.server_ring, &[], None);
    let agent =
        setup.listener_with("IDLE1", backend.addr(), "Inbound", &["IdleTimeout 1"]).policy(&rule).start();
    let mut t = tls_connect(agent.addr("IDLE1"), &client_config(&pki.ca)).expect("handshake");
    assert_eq!(round_trip(&mut t, b"ping\n").expect("echo"), b"ping\n");
    let start = Instant::now();
    let mut rest = Vec::new();
    let end = t.read_to_end(&mut rest);
    let took = start.elapsed();
    assert!(end.is_ok(), "closed with close_notify: {end:?}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "closed after {took:?}");
    let logged = crate::support::agent::eventually(WAIT, || agent.log_text().contains("IdleTimeout"));
    assert!(logged, "{}", agent.log_text());
}

/// What a backend got and how its connection ended (a FIN is `Ok`).
type Ending = (usize, std::io::Result<()>);

/// A backend that reads nothing until `go` says so, then reads to the end and reports.
fn stalled_backend() -> (SocketAddr, mpsc::Sender<()>, mpsc::Receiver<Ending>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    let (go, wait) = mpsc::channel();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        let _ = wait.recv_timeout(WAIT * 2);
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        let (mut got, mut buf) = (0, vec![0u8; 64 * 1024]);
        let end = loop {
            match s.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => got += n,
                Err(e) => break Err(e),
            }
        };
        let _ = tx.send((got, end));
    });
    (addr, go, rx)
}

#[test]
fn idle_timeout_resets_both_sides_of_a_relay_whose_backend_stopped_reading() {
    // Found by the soak (scripts/soak faults): an upload stalled on a backend that reads nothing,
    // IdleTimeout ended the relay with close_notify and FIN, and the backend took the part of the
    // upload it had for the whole of it.
    let setup = AgentSetup::new("lim-stall");
    let pki = setup.pki("pki");
    let (backend, go, ended) = stalled_backend();
    let rule = policy::server_rule("stall~1", "STALL1", &pki.server_ring, &[], None);
    let agent = setup.listener_with("STALL1", backend, "Inbound", &["IdleTimeout 1"]).policy(&rule).start();
    let mut t = tls_connect(agent.addr("STALL1"), &client_config(&pki.ca)).expect("handshake");
    t.sock.set_write_timeout(Some(WAIT)).expect("timeout");
    // 16 MiB cannot all wait in the socket buffers on the way: the relay holds some when it stalls.
    let writer = std::thread::spawn(move || {
        let chunk = vec![0x5au8; 64 * 1024];
        let mut sent = 0;
        while sent < 16 << 20 {
            t.write_all(&chunk).and_then(|()| t.flush())?;
            sent += chunk.len();
        }
        Ok::<_, std::io::Error>(sent)
    });
    let cut = crate::support::agent::eventually(WAIT, || agent.log_text().contains("IdleTimeout"));
    assert!(cut, "no IdleTimeout in the log:\n{}", agent.log_text());
    go.send(()).expect("the backend waits");
    let (got, end) = ended.recv_timeout(WAIT * 2).expect("the backend's report");
    assert!(
        end.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the backend saw {end:?} after {got} bytes: a cut upload must end with a reset\n{}",
        agent.log_text()
    );
    let wrote = writer.join().expect("the writer");
    assert!(wrote.is_err(), "the client wrote all 16 MiB ({wrote:?}) to a backend that read {got} bytes");
    assert!(agent.log_text().contains("both sides reset"), "{}", agent.log_text());
}

#[test]
fn connect_timeout_gives_up_on_a_backend_that_does_not_accept() {
    // A backend whose accept queue is full and that never accepts: SYNs go unanswered.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().expect("addr").into()).expect("bind");
    sock.listen(0).expect("listen");
    let full: TcpListener = sock.into();
    let addr = full.local_addr().expect("addr");
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            fillers.push(s);
        }
    }
    let setup = AgentSetup::new("lim-connect");
    let lines = ["NoPolicy Clear", "ConnectTimeout 1"];
    let agent = setup
        .listener_with("SLOWB1", addr, "Inbound", &lines)
        .policy(&policy::off_rule("x~1", "OTHER"))
        .start();
    let mut c = TcpStream::connect(agent.addr("SLOWB1")).expect("connect");
    c.set_read_timeout(Some(WAIT)).expect("timeout");
    let start = Instant::now();
    let mut buf = [0u8; 16];
    let _ = c.read(&mut buf);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "the agent waited {took:?} for the backend");
    let logged = crate::support::agent::eventually(WAIT, || agent.log_text().contains("ConnectTimeout"));
    assert!(logged, "{}", agent.log_text());
    drop(full);
}

#[test]
fn control_clients_over_the_limit_get_ebusy_and_netstat_answers_once_they_go() {
    use std::io::BufRead;
    use std::os::unix::net::UnixStream;
    let setup = AgentSetup::new("lim-ctl");
    let backend = Backend::echo();
    let agent =
        setup.listener("C1", backend.addr(), "Inbound").policy(&policy::off_rule("c~1", "C1")).start();
    // 512 silent clients fill the control socket's sessions; the next one is told EBUSY at once.
    let silent: Vec<UnixStream> =
        (0..512).map(|_| UnixStream::connect(agent.socket()).expect("connect")).collect();
    std::thread::sleep(Duration::from_millis(300));
    let extra = UnixStream::connect(agent.socket()).expect("connect");
    extra.set_read_timeout(Some(WAIT)).expect("timeout");
    let mut line = String::new();
    std::io::BufReader::new(extra).read_line(&mut line).expect("a reply");
    assert!(line.contains("EBUSY"), "{line}");
    drop(silent);
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let out = agent.pagent(&["netstat"]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::support::stderr(&out));
    assert!(start.elapsed() < Duration::from_secs(2), "netstat took {:?}", start.elapsed());
}
