//! Tests of `procnet`: the owners of sockets other processes hold (small Python programs that name
//! themselves through /proc/self/comm), the cache and its revalidation, and the /proc/net reader.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use super::*;

#[test]
fn parses_proc_net_addresses() {
    assert_eq!(table::parse("0100007F:1F90"), Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(table::parse("00000000000000000000000001000000:0016"), Some("[::1]:22".parse().unwrap()));
    assert_eq!(table::parse("zz:1"), None);
}

/// A Python process named `comm` that listens on 127.0.0.1:`port` (`listen PORT`) or connects to
/// an address (`connect ADDR`), and holds its socket until told to close it or killed (on drop).
struct Peer {
    child: std::process::Child,
    /// Its socket's own address.
    addr: SocketAddr,
    said: BufReader<std::process::ChildStdout>,
}

const PEER: &str = "
import socket, sys
open('/proc/self/comm', 'w').write(sys.argv[1])
if sys.argv[2] == 'listen':
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', int(sys.argv[3])))
    s.listen(8)
else:
    host, port = sys.argv[3].rsplit(':', 1)
    s = socket.create_connection((host, int(port)))
print('%s:%d' % s.getsockname(), flush=True)
for line in sys.stdin:
    s.close()
    print('closed', flush=True)
";

impl Peer {
    fn start(comm: &str, what: &str, arg: &str) -> Peer {
        let mut child = Command::new("python3")
            .args(["-c", PEER, comm, what, arg])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut said = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        said.read_line(&mut line).unwrap();
        let addr = line.trim().parse().unwrap_or_else(|_| panic!("peer said `{line}`"));
        Peer { child, addr, said }
    }

    /// Closes its socket and stays alive.
    fn close(&mut self) {
        writeln!(self.child.stdin.as_mut().unwrap(), "close").unwrap();
        let mut line = String::new();
        self.said.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "closed");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn me() -> String {
    user_name(process_uid(std::path::Path::new("/proc/self")).unwrap()).unwrap()
}

#[test]
fn a_listener_owner_is_found_once_then_revalidated_and_a_reused_port_gets_the_new_owner() {
    let a = Peer::start("ownerA", "listen", "0");
    let before = owner_scans();
    let owner = listener_owner(a.addr).expect("the listening process");
    assert_eq!((owner.command.as_str(), owner.user.as_str()), ("ownerA", me().as_str()));
    assert_eq!(owner_scans(), before + 1, "a miss scans /proc once");
    // A hit: the same owner, without reading /proc again.
    for _ in 0..3 {
        assert_eq!(listener_owner(a.addr).map(|o| o.command).as_deref(), Some("ownerA"));
    }
    assert_eq!(owner_scans(), before + 1, "hits read no /proc table");
    // Another process takes the port: a new socket (inode), a new owner.
    let port = a.addr.port().to_string();
    drop(a);
    let b = Peer::start("ownerB", "listen", &port);
    assert_eq!(b.addr.port().to_string(), port);
    assert_eq!(listener_owner(b.addr).map(|o| o.command).as_deref(), Some("ownerB"));
    assert_eq!(owner_scans(), before + 2);
    drop(b);
    assert_eq!(listener_owner("127.0.0.1:1".parse().unwrap()), None, "nobody listens");
}

#[test]
fn a_cached_owner_that_closed_the_socket_or_exited_is_not_reported() {
    let skip = std::process::id();
    for exits in [false, true] {
        let mut a = Peer::start("ownerGone", "listen", "0");
        let inode = listener(a.addr).expect("listener").inode;
        assert_eq!(owners::owner_of(inode, skip).map(|o| o.command).as_deref(), Some("ownerGone"));
        if exits {
            drop(a);
        } else {
            a.close();
        }
        // Asked by the inode it had: the process no longer holds it, and nobody else does.
        assert_eq!(owners::owner_of(inode, skip), None, "exited: {exits}");
    }
}

#[test]
fn the_owner_of_a_local_client_socket_is_the_client_process() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let to = l.local_addr().unwrap();
    let c = Peer::start("clientC", "connect", &to.to_string());
    let (s, from) = l.accept().unwrap();
    assert_eq!(from, c.addr);
    let owner = connection_owner(c.addr, to).expect("the client process");
    assert_eq!(owner.command, "clientC");
    assert_eq!(socket_uid(c.addr, to), process_uid(std::path::Path::new("/proc/self")));
    assert_eq!(send_queue(c.addr, to), Some(0));
    // This process's own sockets are never searched (the agent holds tens of thousands).
    assert_eq!(connection_owner(s.local_addr().unwrap(), from), None);
    assert_eq!(listener_owner(to), None);
}

#[test]
fn the_systemd_unit_comes_from_the_cgroup_path() {
    assert_eq!(systemd_unit("0::/system.slice/vsftpd.service\n").as_deref(), Some("vsftpd.service"));
    let v1 = "12:pids:/system.slice/ssh.service\n1:name=systemd:/system.slice/ssh.service\n";
    assert_eq!(systemd_unit(v1).as_deref(), Some("ssh.service"));
    let user = "0::/user.slice/user-1000.slice/session-3.scope\n";
    assert_eq!(systemd_unit(user).as_deref(), Some("session-3.scope"));
    assert_eq!(systemd_unit("0::/\n"), None, "a process in no unit");
}
