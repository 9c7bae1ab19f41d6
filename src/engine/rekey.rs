//! ResetCipherTimer on connections whose TLS attls runs from accept (`ENABLED`): after the timer
//! passes, the next write first sends a TLS 1.3 KeyUpdate (update requested, so both directions get
//! new keys). An idle connection encrypts nothing, so it needs no new keys until it writes again.
//! TLS 1.2 cannot be rekeyed by rustls (no renegotiation); `pagent check` warns about that.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A TLS stream whose traffic keys can be renewed.
pub trait Rekey {
    fn refresh_keys(&mut self) -> Result<(), rustls::Error>;
}

impl<T: Rekey> Rekey for &mut T {
    fn refresh_keys(&mut self) -> Result<(), rustls::Error> {
        (**self).refresh_keys()
    }
}

impl<S> Rekey for tokio_rustls::server::TlsStream<S> {
    fn refresh_keys(&mut self) -> Result<(), rustls::Error> {
        self.get_mut().1.refresh_traffic_keys()
    }
}

impl<S> Rekey for tokio_rustls::client::TlsStream<S> {
    fn refresh_keys(&mut self) -> Result<(), rustls::Error> {
        self.get_mut().1.refresh_traffic_keys()
    }
}

/// `inner` with a KeyUpdate before the first write after each `every`.
pub struct Rekeying<T> {
    inner: T,
    every: Duration,
    next: Instant,
    /// KeyUpdates sent so far.
    pub rekeys: u64,
}

impl<T> Rekeying<T> {
    pub fn new(inner: T, every: Duration) -> Self {
        Rekeying { inner, every, next: Instant::now() + every, rekeys: 0 }
    }

    pub fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rekeying<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Rekey + Unpin> AsyncWrite for Rekeying<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let now = Instant::now();
        if now >= self.next {
            self.next = now + self.every;
            // TLS 1.2 refuses: nothing to do there (warned at check time).
            if self.inner.refresh_keys().is_ok() {
                self.rekeys += 1;
                tracing::debug!(rekeys = self.rekeys, "ResetCipherTimer: KeyUpdate sent");
            }
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    use super::*;

    #[tokio::test]
    async fn keys_are_renewed_after_the_timer_and_data_keeps_flowing() {
        let dir = std::env::temp_dir().join(format!("attls-rekey-{}", std::process::id()));
        let ca = crate::keyring::write_test_pki(&dir, &[("server", "localhost", false)]).expect("pki");
        let ring = crate::keyring::load(&dir, None).expect("ring");
        let id = ring.identity(None).expect("identity");
        let provider = Arc::new(crate::policy::rustls_caps::provider().clone());
        let server = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(id.chain.clone(), id.key.clone_key())
                .expect("server config"),
        );
        let roots = crate::keyring::load(&ca, None).expect("ca").root_store().expect("roots");
        let client =
            rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions();
        let client = Arc::new(client.expect("versions").with_root_certificates(roots).with_no_client_auth());
        let (a, b) = duplex(64 * 1024);
        let name = ServerName::try_from("localhost").expect("name");
        let (s, c) =
            tokio::join!(TlsAcceptor::from(server).accept(a), TlsConnector::from(client).connect(name, b));
        let mut s = Rekeying::new(s.expect("accept"), Duration::from_millis(30));
        let mut c = c.expect("connect");
        let mut got = [0u8; 5];
        for round in 0..3u64 {
            tokio::time::sleep(Duration::from_millis(40)).await;
            s.write_all(b"hello").await.expect("write");
            s.flush().await.expect("flush");
            c.read_exact(&mut got).await.expect("read under the new keys");
            assert_eq!(&got, b"hello");
            assert_eq!(s.rekeys, round + 1);
            // The client's own new keys (it was asked to update) decrypt at the server.
            c.write_all(b"back!").await.expect("client write");
            c.flush().await.expect("client flush");
            s.read_exact(&mut got).await.expect("server read");
            assert_eq!(&got, b"back!");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
