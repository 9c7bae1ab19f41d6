//! Tests of `sockdiag` against real sockets on loopback: what netlink answers must be what
//! /proc/self/fd and /proc/net/tcp say about the same socket.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::*;
use crate::procnet::table;

/// The inode /proc/self/fd names for descriptor `fd`.
fn inode_of(fd: &impl AsRawFd) -> u64 {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
    let text = link.to_str().unwrap();
    text.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')).unwrap().parse().unwrap()
}

fn my_uid() -> u32 {
    crate::procnet::process_uid(std::path::Path::new("/proc/self")).unwrap()
}

/// A connected pair on `listen` (`127.0.0.1:0` or `[::1]:0`), with the listener.
fn pair(listen: &str) -> Option<(TcpListener, TcpStream, TcpStream)> {
    let l = TcpListener::bind(listen).ok()?;
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    Some((l, c, s))
}

fn ends(s: &TcpStream) -> (SocketAddr, SocketAddr) {
    (s.local_addr().unwrap(), s.peer_addr().unwrap())
}

#[test]
fn netlink_names_the_uid_and_inode_that_proc_names() {
    let mut checked = 0;
    for listen in ["127.0.0.1:0", "[::1]:0"] {
        let Some((l, c, s)) = pair(listen) else { continue };
        for end in [&c, &s] {
            let (local, peer) = ends(end);
            let f = connection(local, peer).unwrap().expect("the socket is found");
            assert_eq!((f.uid, f.inode, f.state), (my_uid(), inode_of(end), 1), "{local} -> {peer}");
            let row = table::connection(local, peer).expect("and listed in /proc/net");
            assert_eq!((row.uid, row.inode), (f.uid, f.inode));
        }
        let f = listener(l.local_addr().unwrap()).unwrap().expect("the listener is found");
        assert_eq!((f.uid, f.inode, f.state), (my_uid(), inode_of(&l), LISTEN));
        assert_eq!(table::listener(l.local_addr().unwrap()).map(|r| r.inode), Some(f.inode));
        // The two ends are two sockets.
        assert_ne!(inode_of(&c), inode_of(&s));
        checked += 1;
    }
    assert!(checked >= 1, "no loopback address to test on");
}

#[test]
fn a_socket_that_does_not_exist_is_none_not_an_error() {
    let (l, c, _s) = pair("127.0.0.1:0").unwrap();
    let (local, peer) = ends(&c);
    // Right addresses, wrong port: nothing.
    let wrong = SocketAddr::new(peer.ip(), peer.port().wrapping_add(1).max(1));
    assert_eq!(connection(local, wrong).unwrap(), None);
    assert_eq!(connection(local, "[::1]:9".parse().unwrap()).unwrap(), None, "mixed families");
    drop(l);
    // A port nobody listens on (the listener just closed; its connection lives on).
    assert_eq!(listener(peer).unwrap(), None);
    assert!(connection(local, peer).unwrap().is_some());
}

#[test]
fn ipv4_mapped_and_dual_stack_sockets_are_found_as_ipv4() {
    let Ok(l) = TcpListener::bind("[::]:0") else { return };
    let port = l.local_addr().unwrap().port();
    let v4: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let f = listener(v4).unwrap().expect("a dual-stack listener takes IPv4 connections");
    assert_eq!(f.inode, inode_of(&l));
    let c = TcpStream::connect(v4).unwrap();
    let (s, peer) = l.accept().unwrap();
    // The accepted socket sees the client as ::ffff:127.0.0.1.
    assert!(matches!(peer, SocketAddr::V6(a) if a.ip().to_ipv4_mapped().is_some()), "{peer}");
    let (local, remote) = ends(&s);
    assert_eq!(connection(local, remote).unwrap().map(|f| f.inode), Some(inode_of(&s)));
    let (local, remote) = ends(&c);
    assert_eq!(connection(local, remote).unwrap().map(|f| f.inode), Some(inode_of(&c)));
}

#[test]
fn the_send_queue_is_what_proc_net_tcp_reports() {
    let (_l, mut c, s) = pair("127.0.0.1:0").unwrap();
    let (local, peer) = ends(&c);
    assert_eq!(connection(local, peer).unwrap().map(|f| f.send_queue), Some(0));
    // The receiver never reads: once its window is full, written bytes stay unacknowledged.
    c.set_nonblocking(true).unwrap();
    let chunk = [7u8; 65536];
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        match c.write(&chunk) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    // Let the last segments and the zero window settle, then both views must agree.
    let agree = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        let n = connection(local, peer).unwrap().map(|f| f.send_queue);
        n.is_some_and(|n| n > 0) && n == table::connection(local, peer).map(|r| r.send_queue)
    });
    assert!(agree, "netlink and /proc/net/tcp disagree on the send queue");
    drop(s);
}

#[test]
fn decoding_refuses_short_and_foreign_answers() {
    assert!(decode(&[0u8; 8], 1).is_err(), "truncated");
    let mut err = vec![0u8; 36];
    err[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
    err[8..12].copy_from_slice(&5u32.to_ne_bytes());
    assert!(decode(&err, 6).is_err(), "an answer to another request");
    err[16..20].copy_from_slice(&(-2i32).to_ne_bytes());
    assert_eq!(decode(&err, 5).unwrap(), None, "ENOENT: no such socket");
    err[16..20].copy_from_slice(&(-13i32).to_ne_bytes());
    assert_eq!(decode(&err, 5).unwrap_err().raw_os_error(), Some(13));
    let request = encode(9, "10.0.0.1:80".parse().unwrap(), "10.0.0.2:5000".parse().unwrap());
    assert_eq!(request.len(), HEADER_LEN + REQUEST_LEN);
    assert_eq!(&request[HEADER_LEN + 8..HEADER_LEN + 12], &[0, 80, 0x13, 0x88], "ports in network order");
}
