//! `pagent check` warnings about trust a policy gives away without saying so: a rule selected by a
//! Jobname alone (which any local user can take on Linux) that exempts traffic or presents a client
//! certificate, and (with `-c CONFIG`, which opens the keyrings) client authentication that trusts
//! the CA that issued the server's own chain.

use std::path::Path;

use crate::support::agent::{Pki, TempDir, write_atomic};
use crate::support::{pagent, stderr};

/// A policy whose two dangerous rules have `extra` (e.g. a Userid line) added, plus two rules that are
/// never warned about: a Server-role rule by Jobname, and a `Jobname *` exemption.
fn jobname_policy(ring: &Path, extra: &str) -> String {
    let ring = ring.display();
    format!(
        "TTLSRule payroll~out\n{{\n  RemotePortRange 443\n  Jobname PAYROLL\n{extra}  Direction Outbound\n  Priority 40\n\
         \x20 TTLSGroupActionRef gOn\n  TTLSEnvironmentActionRef eClient\n}}\n\
         TTLSRule rsync~clear\n{{\n  LocalPortRange 873\n  Jobname RSYNC*\n{extra}  Direction Inbound\n  Priority 30\n\
         \x20 TTLSGroupActionRef gOff\n}}\n\
         TTLSRule web~server\n{{\n  LocalPortRange 8443\n  Jobname HTTPD\n  Direction Inbound\n  Priority 20\n\
         \x20 TTLSGroupActionRef gOn\n  TTLSEnvironmentActionRef eServer\n}}\n\
         TTLSRule any~clear\n{{\n  LocalPortRange 7\n  Jobname *\n  Direction Inbound\n  Priority 10\n\
         \x20 TTLSGroupActionRef gOff\n}}\n\
         TTLSGroupAction gOn\n{{\n  TTLSEnabled On\n}}\n\
         TTLSGroupAction gOff\n{{\n  TTLSEnabled Off\n}}\n\
         TTLSEnvironmentAction eClient\n{{\n  HandshakeRole Client\n  TTLSKeyringParms\n  {{\n    Keyring {ring}\n  }}\n}}\n\
         TTLSEnvironmentAction eServer\n{{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {{\n    Keyring {ring}\n  }}\n}}\n"
    )
}

#[test]
fn a_rule_selected_by_jobname_alone_that_exempts_or_presents_a_client_certificate_is_warned() {
    let dir = TempDir::new("forgeable-job");
    let pki = Pki::write(dir.path(), "pki");
    let file = dir.path().join("jobs.pol");
    write_atomic(&file, &jobname_policy(&pki.server_ring, ""));
    let f = file.to_str().expect("utf-8");

    let out = pagent(&["check", f]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "a warning, not an error:\n{err}");
    let warned = |rule: &str| {
        err.lines().any(|l| {
            l.contains(": warning: TTLSRule ") && l.contains(&format!("{rule} is selected by Jobname"))
        })
    };
    assert!(warned("payroll~out"), "role Client by Jobname alone:\n{err}");
    assert!(warned("rsync~clear"), "TTLSEnabled Off by Jobname alone:\n{err}");
    assert!(!warned("web~server"), "a Server-role rule presents no client certificate:\n{err}");
    assert!(!warned("any~clear"), "`Jobname *` selects nobody by name:\n{err}");
    assert!(err.contains("(HandshakeRole Client)") && err.contains("(TTLSEnabled Off)"), "{err}");
    assert!(err.contains("hint: ") && err.contains("add `Userid"), "the hint suggests Userid:\n{err}");
    assert!(err.contains("policy valid: 4 rules"), "{err}");

    // A security warning, not a portability one: --strict leaves it a warning.
    let strict = pagent(&["check", "--strict", f]);
    assert_eq!(strict.status.code(), Some(0), "{}", stderr(&strict));
    assert!(stderr(&strict).contains("is selected by Jobname PAYROLL alone"), "{}", stderr(&strict));

    // With a Userid condition (the socket's owner, which the kernel reports) nothing is warned.
    write_atomic(&file, &jobname_policy(&pki.server_ring, "  Userid PAYUSER\n"));
    let out = pagent(&["check", f]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("is selected by Jobname"), "a Userid condition settles it:\n{err}");
    assert!(err.contains("policy valid: 4 rules, 4 actions, 0 warnings"), "{err}");
}

/// A policy with one ServerWithClientAuth rule on `ring` under `auth`, and a main configuration.
fn client_auth_setup(dir: &Path, ring: &Path, auth: &str) -> (String, String) {
    let policy = dir.join(format!("mtls-{auth}.pol"));
    write_atomic(
        &policy,
        &format!(
            "TTLSRule mtls~{auth}\n{{\n  LocalPortRange 8443\n  Direction Inbound\n  TTLSGroupActionRef gOn\n\
             \x20 TTLSEnvironmentActionRef eMtls\n}}\n\
             TTLSGroupAction gOn\n{{\n  TTLSEnabled On\n}}\n\
             TTLSEnvironmentAction eMtls\n{{\n  HandshakeRole ServerWithClientAuth\n\
             \x20 TTLSKeyringParms\n  {{\n    Keyring {}\n  }}\n\
             \x20 TTLSEnvironmentAdvancedParms\n  {{\n    ClientAuthType {auth}\n  }}\n}}\n",
            ring.display()
        ),
    );
    let config = dir.join(format!("pagent-{auth}.conf"));
    write_atomic(&config, &format!("TTLSConfig {}\n", policy.display()));
    (policy.to_string_lossy().into_owned(), config.to_string_lossy().into_owned())
}

const OVERLAP: &str = "which also issued the server certificate's chain";

#[test]
fn check_with_a_config_warns_when_client_authentication_trusts_the_servers_own_ca() {
    let dir = TempDir::new("client-ca-overlap");
    // The harness PKI issues the server and the client certificates from one CA.
    let pki = Pki::write(dir.path(), "pki");
    for auth in ["Required", "Full", "SAFCheck"] {
        let (policy, config) = client_auth_setup(dir.path(), &pki.server_ring, auth);
        let out = pagent(&["check", &policy, "-c", &config]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "a warning, not an error ({auth}):\n{err}");
        let line =
            err.lines().find(|l| l.contains(OVERLAP)).unwrap_or_else(|| panic!("{auth}: no warning:\n{err}"));
        assert!(line.contains(": warning: ") && line.contains("CN=attls test CA"), "names the CA: {line}");
        assert!(err.contains("keyrings: every keyring of an enabled rule opens"), "{err}");
    }

    // PassThru validates nothing, so which CA it trusts does not matter.
    let (policy, config) = client_auth_setup(dir.path(), &pki.server_ring, "PassThru");
    let err = stderr(&pagent(&["check", &policy, "-c", &config]));
    assert!(!err.contains(OVERLAP), "PassThru:\n{err}");

    // Client certificates from a CA of their own, and a server leaf without its issuer in the ring.
    let clients = Pki::write(dir.path(), "client-pki");
    let ring = dir.path().join("separate-ring");
    let leaf_only: String = {
        let chain = std::fs::read_to_string(&pki.server_pem).expect("server.pem");
        let end = "-----END CERTIFICATE-----\n";
        chain[..chain.find(end).expect("a certificate") + end.len()].to_string()
    };
    write_atomic(&ring.join("server.pem"), &leaf_only);
    std::fs::copy(&pki.server_key, ring.join("server.key")).expect("copy key");
    std::fs::copy(&clients.ca, ring.join("ca.pem")).expect("copy client CA");
    let (policy, config) = client_auth_setup(dir.path(), &ring, "Required");
    let out = pagent(&["check", &policy, "-c", &config]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains(OVERLAP), "a separate client CA (even with the same name) is no overlap:\n{err}");
}
