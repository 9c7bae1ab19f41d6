//! The `FEAT` reply attls sends (RFC 2389, RFC 4217 §6): the backend's features plus `AUTH TLS`,
//! `PBSZ` and `PROT`, which attls implements in front of it
//! (docs/policy-reference.md#ftp-command-sequence-and-replies).

use super::reply::Reply;

/// The features attls adds when the backend does not list them: (feature line, first word, mechanism).
const ADDED: [(&str, &str, Option<&str>); 3] =
    [(" AUTH TLS", "AUTH", Some("TLS")), (" PBSZ", "PBSZ", None), (" PROT", "PROT", None)];

/// The `FEAT` reply for the client: a backend `211` reply's feature lines plus the TLS features it
/// lacks, or a synthesised list when the backend has no `FEAT` (`None` or any other code).
pub fn merge(backend: Option<&Reply>) -> String {
    let (head, features): (&str, Vec<&str>) = match backend {
        Some(r) if r.code == 211 => {
            let lines: Vec<&str> = r.lines().collect();
            match lines.as_slice() {
                [first, middle @ .., _last] if first.starts_with("211-") => (first, middle.to_vec()),
                _ => ("211-Features:", Vec::new()),
            }
        }
        _ => ("211-Features:", Vec::new()),
    };
    let mut out = String::with_capacity(128 + features.iter().map(|l| l.len() + 2).sum::<usize>());
    out.push_str(head);
    out.push_str("\r\n");
    for l in &features {
        out.push_str(l);
        out.push_str("\r\n");
    }
    for (line, word, mechanism) in ADDED {
        if !features.iter().any(|l| lists(l, word, mechanism)) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("211 End\r\n");
    out
}

/// Whether a feature line names `word` (and, for AUTH, the mechanism among its arguments, which
/// servers separate by spaces or `;`), ignoring case.
fn lists(line: &str, word: &str, mechanism: Option<&str>) -> bool {
    let mut words = line.split(|c: char| c.is_ascii_whitespace() || c == ';').filter(|w| !w.is_empty());
    if !words.next().is_some_and(|w| w.eq_ignore_ascii_case(word)) {
        return false;
    }
    match mechanism {
        None => true,
        Some(m) => words.any(|w| w.eq_ignore_ascii_case(m)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYNTHESISED: &str = "211-Features:\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n211 End\r\n";

    fn reply(code: u16, text: &str) -> Reply {
        Reply { code, text: text.into() }
    }

    #[test]
    fn synthesised_without_backend_feat() {
        assert_eq!(merge(None), SYNTHESISED);
        assert_eq!(merge(Some(&reply(500, "500 Unknown command.\r\n"))), SYNTHESISED);
        assert_eq!(merge(Some(&reply(502, "502 FEAT not implemented\r\n"))), SYNTHESISED);
        assert_eq!(merge(Some(&reply(211, "211 No features\r\n"))), SYNTHESISED);
    }

    #[test]
    fn backend_features_kept_and_tls_added() {
        let backend = reply(211, "211-Extensions supported:\r\n EPRT\r\n MDTM\r\n UTF8\r\n211 END\r\n");
        let want = "211-Extensions supported:\r\n EPRT\r\n MDTM\r\n UTF8\r\n";
        assert_eq!(merge(Some(&backend)), format!("{want} AUTH TLS\r\n PBSZ\r\n PROT\r\n211 End\r\n"));
    }

    #[test]
    fn listed_features_not_repeated() {
        let backend = reply(211, "211-Features:\r\n auth tls\r\n pbsz\r\n Prot\r\n SIZE\r\n211 End\r\n");
        assert_eq!(
            merge(Some(&backend)),
            "211-Features:\r\n auth tls\r\n pbsz\r\n Prot\r\n SIZE\r\n211 End\r\n"
        );
        let backend = reply(211, "211-Features:\r\n AUTH TLS-C;TLS\r\n211 End\r\n");
        assert_eq!(
            merge(Some(&backend)),
            "211-Features:\r\n AUTH TLS-C;TLS\r\n PBSZ\r\n PROT\r\n211 End\r\n"
        );
    }

    #[test]
    fn auth_ssl_is_not_auth_tls() {
        let backend = reply(211, "211-Features:\r\n AUTH SSL\r\n PBSZ\r\n211 End\r\n");
        assert_eq!(
            merge(Some(&backend)),
            "211-Features:\r\n AUTH SSL\r\n PBSZ\r\n AUTH TLS\r\n PROT\r\n211 End\r\n"
        );
        let backend = reply(211, "211-Features:\r\n PROTX\r\n AUTHTLS\r\n211 End\r\n");
        assert!(merge(Some(&backend)).ends_with(" AUTH TLS\r\n PBSZ\r\n PROT\r\n211 End\r\n"));
    }
}
