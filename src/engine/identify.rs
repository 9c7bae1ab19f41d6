//! What the engine learns about an accepted connection before it maps it: the address the client
//! dialed (for a transparent listener, the original destination: `SO_ORIGINAL_DST` after a
//! redirect, the socket's own local address under TPROXY), where to relay it, which helper serves
//! it (`ProtocolPorts`), and whose it is (Jobname and Userid, docs/decisions.md D7).

use std::net::SocketAddr;

use socket2::SockRef;
use tokio::net::TcpStream;

use super::sockets::is_local;
use crate::config::{JobnameFrom, ListenerConfig, Protocol, Transparent};
use crate::intercept::OWN_MARK;
use crate::policy::table::ConnDirection;
use crate::procnet::{Owner, connection_owner, listener_owner};

/// How netstat shows an owner that could not be found.
pub const UNKNOWN: &str = "?";

/// An accepted connection, before mapping.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The listener's name.
    pub listener: String,
    /// The address the client dialed: the listener's own, or the original destination.
    pub dialed: SocketAddr,
    pub client: SocketAddr,
    pub protocol: Protocol,
    /// D7: who the connection belongs to, for rule matching (`?` when not known).
    pub jobname: String,
    pub userid: String,
    /// The owner was found (always, for a listener that is not transparent: the listener's own
    /// Jobname and Userid). An unknown owner matches no rule with a Jobname or Userid condition.
    pub owner_known: bool,
    pub backend: Target,
}

/// Where and how to open the connection to the other side.
#[derive(Debug, Clone)]
pub struct Target {
    /// `HOST:PORT` to dial.
    pub addr: String,
    /// The name checked in a TLS server's certificate (D21 fallback).
    pub host: String,
    /// TPROXY: leave from the client's own address, so the server sees the real client.
    pub source: Option<SocketAddr>,
    /// `ConnectTimeout`.
    pub timeout: std::time::Duration,
    /// SO_MARK: the agent's own connections are never intercepted again.
    pub mark: Option<u32>,
}

impl Accepted {
    /// Reads what the kernel knows about `stream`, accepted on `listener`.
    pub async fn new(listener: &ListenerConfig, stream: &TcpStream) -> std::io::Result<Accepted> {
        let (local, client) = (stream.local_addr()?, stream.peer_addr()?);
        let Some(mode) = listener.transparent else {
            return Ok(Accepted {
                listener: listener.name.clone(),
                dialed: local,
                client,
                protocol: listener.protocol,
                jobname: listener.jobname.clone(),
                userid: listener.userid.clone(),
                owner_known: true,
                backend: Target {
                    addr: listener.backend(),
                    host: listener.backend_host.clone(),
                    source: None,
                    timeout: listener.limits.connect_timeout,
                    mark: None,
                },
            });
        };
        let dialed = match mode {
            Transparent::Tproxy => local,
            Transparent::Redirect => original_destination(stream).unwrap_or(local),
        };
        if dialed == local && !listener.has_backend() && mode == Transparent::Redirect {
            return Err(std::io::Error::other(format!(
                "{client} reached the listener directly, not through a redirect: no original destination to relay to"
            )));
        }
        // A socket the owner cache has not seen is looked for in /proc, which blocks: off the async
        // workers (procnet, docs/transparent.md).
        let direction = listener.direction;
        let owner = tokio::task::spawn_blocking(move || match direction {
            ConnDirection::Inbound if is_local(dialed.ip()) => listener_owner(dialed),
            ConnDirection::Inbound => None,
            ConnDirection::Outbound => connection_owner(client, dialed),
        })
        .await
        .unwrap_or(None);
        // JobnameFrom Unit: the owner's systemd unit is its Jobname; a process in no unit is unknown.
        let owner = match listener.jobname_from {
            JobnameFrom::Command => owner,
            JobnameFrom::Unit => owner.and_then(|o| o.unit.clone().map(|unit| Owner { command: unit, ..o })),
        };
        let (addr, host) = if listener.has_backend() {
            (listener.backend(), listener.backend_host.clone())
        } else {
            (dialed.to_string(), dialed.ip().to_canonical().to_string())
        };
        let spoof = mode == Transparent::Tproxy && listener.direction == ConnDirection::Inbound;
        Ok(Accepted {
            listener: listener.name.clone(),
            dialed,
            client,
            protocol: listener.protocol_for(dialed.port()),
            // An owner /proc cannot name is unknown, never the listener's own identity.
            owner_known: owner.is_some(),
            jobname: owner.as_ref().map_or_else(|| UNKNOWN.to_string(), |o| o.command.clone()),
            userid: owner.map_or_else(|| UNKNOWN.to_string(), |o| o.user),
            backend: Target {
                addr,
                host,
                source: spoof.then_some(client),
                timeout: listener.limits.connect_timeout,
                mark: Some(OWN_MARK),
            },
        })
    }
}

/// `SO_ORIGINAL_DST` (IPv4) or `IP6T_SO_ORIGINAL_DST` (IPv6) of a redirected connection.
fn original_destination(stream: &TcpStream) -> Option<SocketAddr> {
    let sock = SockRef::from(stream);
    let v6 = stream.local_addr().ok()?.is_ipv6();
    let found = if v6 { sock.original_dst_ipv6() } else { sock.original_dst() };
    found.ok()?.as_socket()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_plain_listener_keeps_its_own_addresses_and_settings() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        let cfg = ListenerConfig {
            name: "L1".into(),
            listen: l.local_addr().unwrap(),
            backend_host: "example.net".into(),
            backend_port: 2121,
            direction: ConnDirection::Inbound,
            protocol: Protocol::Ftp,
            jobname: "FTPD1".into(),
            userid: "ftp".into(),
            client_hello_hold: std::time::Duration::from_millis(500),
            ftp: Default::default(),
            tn3270: Default::default(),
            transparent: None,
            protocol_ports: Vec::new(),
            no_policy: crate::config::NoPolicy::Refuse,
            limits: Default::default(),
            jobname_from: JobnameFrom::Command,
        };
        let a = Accepted::new(&cfg, &s).await.unwrap();
        assert_eq!((a.dialed, a.client), (l.local_addr().unwrap(), c.local_addr().unwrap()));
        assert_eq!((a.jobname.as_str(), a.userid.as_str(), a.protocol), ("FTPD1", "ftp", Protocol::Ftp));
        assert_eq!((a.backend.addr.as_str(), a.backend.host.as_str()), ("example.net:2121", "example.net"));
        assert_eq!((a.backend.source, a.backend.mark), (None, None));
        // Redirect without a redirect and without Backend: refused, never relayed to itself.
        let cfg = ListenerConfig {
            transparent: Some(Transparent::Redirect),
            backend_host: String::new(),
            backend_port: 0,
            ..cfg
        };
        assert!(Accepted::new(&cfg, &s).await.is_err());
    }
}
