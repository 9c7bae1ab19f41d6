//! Synthetic policies for benches and the `gen_policy` example: `n` rules in the Configuration
//! Assistant layout, each on its own local port, with shared actions and address groups, so
//! lookups and loads scale the way large real files do.

use std::fmt::Write as _;

/// Policy text with `n` rules. Rule `i` listens on local port `1024 + i` (inbound) and every tenth
/// rule is a wide rule (a port range of 2,000 ports) to keep the index honest.
pub fn policy_text(n: usize) -> String {
    let mut s = String::with_capacity(n * 420);
    s.push_str("## synthetic AT-TLS policy\n");
    for i in 0..n {
        let port = 1024 + i;
        let port_line = if i % 10 == 9 {
            format!("LocalPortRange                  {}-{}", port, port + 2000)
        } else {
            format!("LocalPortRange                  {port}")
        };
        let _ = write!(
            s,
            "TTLSRule                          rule~{i}\n{{\n  LocalAddrGroupRef               grpHost\n  {port_line}\n  RemotePortRange                 1024-65535\n  Jobname                         JOB{}*\n  Direction                       Inbound\n  Priority                        {}\n  TTLSGroupActionRef              gAct1\n  TTLSEnvironmentActionRef        eAct{}\n  TTLSConnectionActionRef         cAct{}\n}}\n",
            i % 7,
            (n - i) * 2,
            i % 3,
            i % 5,
        );
    }
    s.push_str("TTLSGroupAction                   gAct1\n{\n  TTLSEnabled                     On\n  Trace                           2\n}\n");
    for e in 0..3 {
        let _ = write!(
            s,
            "TTLSEnvironmentAction             eAct{e}\n{{\n  HandshakeRole                   Server\n  TTLSKeyringParms\n  {{\n    Keyring                       /etc/attls/keys/ring{e}\n  }}\n  TTLSCipherParms\n  {{\n    V3CipherSuites4Char           13021301C030C02F\n  }}\n}}\n"
        );
    }
    for c in 0..5 {
        let _ = write!(
            s,
            "TTLSConnectionAction              cAct{c}\n{{\n  TTLSConnectionAdvancedParms\n  {{\n    ApplicationControlled         {}\n    HandshakeTimeout              {}\n  }}\n}}\n",
            if c % 2 == 0 { "On" } else { "Off" },
            10 + c
        );
    }
    s.push_str("IpAddrGroup                       grpHost\n{\n  IpAddrSet\n  {\n    Prefix                        10.0.0.0/8\n  }\n  IpAddrSet\n  {\n    Prefix                        2001:db8::/32\n  }\n}\n");
    s
}
