//! Transparent mode's kernel side (issue 8): the nftables rules that send intercepted connections to
//! a transparent listener, as `pagent setup-intercept` prints them, and the marks the agent and
//! those rules agree on.

/// SO_MARK on every connection the agent itself opens for a transparent listener, so interception
/// rules skip them (`meta mark 0x4154 return`): the agent never intercepts its own connections.
pub const OWN_MARK: u32 = 0x4154;
/// The mark TPROXY rules set on intercepted packets, routed to the local stack by
/// `ip rule add fwmark 0x1 lookup 100` and `ip route add local 0.0.0.0/0 dev lo table 100`.
pub const TPROXY_MARK: u32 = 0x1;
/// The routing table of that local route.
pub const TPROXY_TABLE: u32 = 100;
