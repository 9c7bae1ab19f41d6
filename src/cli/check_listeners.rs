//! What `pagent check -c` checks of the rules against the configuration's listeners: a TLS rule in
//! the Client role that can match an inbound FTP or TN3270 listener is an error, since those helpers
//! play the server's side (the agent refuses such connections rather than relay them in clear).

use crate::config::{Config, Protocol};
use crate::policy::matcher::name_ok;
use crate::policy::table::{ConnDirection, Direction, Role, RuleTable};

/// One line per rule and listener that cannot work together; empty when all can.
pub fn role_conflicts(table: &RuleTable, config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let helpers =
        config.listeners.iter().filter(|l| l.direction == ConnDirection::Inbound).filter(|l| {
            l.protocol != Protocol::Raw || l.protocol_ports.iter().any(|(_, p)| *p != Protocol::Raw)
        });
    for l in helpers {
        for rule in table.rules() {
            let s = &rule.settings;
            let inbound = matches!(rule.direction, Direction::Inbound | Direction::Both);
            let owner = name_ok(rule.jobname.as_deref(), Some(&l.jobname))
                && name_ok(rule.userid.as_deref(), Some(&l.userid));
            if s.ttls_enabled
                && s.handshake_role == Some(Role::Client)
                && inbound
                && (owner || l.transparent.is_some())
            {
                out.push(format!(
                    "error: TTLSRule {}: HandshakeRole Client can match Listener {} (inbound, a protocol helper plays the server's side): use Server or ServerWithClientAuth, or narrow the rule",
                    rule.name, l.name
                ));
            }
        }
    }
    out
}
