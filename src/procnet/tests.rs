//! Tests of `procnet`.

use super::*;

#[test]
fn parses_proc_net_addresses() {
    assert_eq!(parse("0100007F:1F90"), Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(parse("00000000000000000000000001000000:0016"), Some("[::1]:22".parse().unwrap()));
    assert_eq!(parse("zz:1"), None);
}

#[test]
fn finds_the_owner_of_a_live_socket() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|u| u.parse::<u32>().ok()))
        .unwrap();
    assert_eq!(socket_uid(c.local_addr().unwrap(), c.peer_addr().unwrap()), Some(uid));
    assert_eq!(socket_uid("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap()), None);
    assert_eq!(send_queue(c.local_addr().unwrap(), c.peer_addr().unwrap()), Some(0));
    // This test process holds both ends and the listener.
    let me = std::fs::read_to_string("/proc/self/comm").unwrap().trim_end().to_string();
    let owner = connection_owner(c.local_addr().unwrap(), c.peer_addr().unwrap()).expect("owner");
    assert_eq!(owner.command, me);
    assert_eq!(listener_owner(l.local_addr().unwrap()).expect("listener owner").command, me);
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
