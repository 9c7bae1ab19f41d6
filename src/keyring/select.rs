//! Choosing from a loaded keyring: the identity named by `CertificateLabel` (D10), and the trust
//! anchors as a rustls root store.

use super::error::{KeyringError, err};
use super::pem::file_stem;
use super::{Identity, Keyring};

impl Keyring {
    /// D10: by label; no label and one keyed certificate: that one; no label and several: error
    /// naming the labels.
    pub fn identity(&self, label: Option<&str>) -> Result<&Identity, KeyringError> {
        let labels: Vec<&str> = self.identities.iter().map(|id| id.label.as_str()).collect();
        let labels = if labels.is_empty() { "none".to_string() } else { labels.join(", ") };
        let (message, hint) = match (label, self.identities.as_slice()) {
            (None, [one]) => return Ok(one),
            (None, []) => (
                "holds no keyed certificate (a certificate with its private key)".to_string(),
                "add the private key to the certificate's file, or as NAME.key beside NAME.pem".to_string(),
            ),
            (None, many) => (
                format!("holds {} keyed certificates ({labels}); which one is not set", many.len()),
                "set CertificateLabel in TTLSEnvironmentAdvancedParms or TTLSConnectionAdvancedParms"
                    .to_string(),
            ),
            (Some(label), ids) => {
                if let Some(id) = ids.iter().find(|id| id.label == label) {
                    return Ok(id);
                }
                if let Some((_, file)) = self.unkeyed.iter().find(|(l, _)| l == label) {
                    let hint = if super::pkcs12::is_pkcs12(file) {
                        format!(
                            "a certificate without its key in a PKCS#12 file is a CA; keyed labels: {labels}"
                        )
                    } else {
                        format!("put its key in the same file or beside it as {}.key", file_stem(file))
                    };
                    return Err(err(file, format!("certificate `{label}` has no private key"), hint));
                }
                (
                    format!("no keyed certificate labelled `{label}` (case-sensitive); labels: {labels}"),
                    format!(
                        "set CertificateLabel to one of them, or write `# label: {label}` before its certificate"
                    ),
                )
            }
        };
        Err(err(&self.path, message, hint))
    }

    /// rustls RootCertStore of `trust` (error if none usable).
    pub fn root_store(&self) -> Result<rustls::RootCertStore, KeyringError> {
        let mut store = rustls::RootCertStore::empty();
        let (added, _ignored) = store.add_parsable_certificates(self.trust.iter().cloned());
        if added == 0 {
            let hint = "add the CA certificates that signed the peers' certificates (e.g. ca.pem)";
            return Err(err(&self.path, "holds no usable CA certificate to check peers with", hint));
        }
        Ok(store)
    }
}
