//! vsftpd (`/usr/sbin/vsftpd`) as a test FTP server: plain, or with its own FTPS (explicit or
//! implicit) for comparisons with attls.

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::servers::{PASV_PORTS, START_TRIES, ServerProc, logged_commands, port_block, served_root, token};
use super::{FtpServer, Login};
use crate::support::agent::TempDir;

/// vsftpd's own FTPS (explicit by default), for [`Vsftpd::start_with`].
#[derive(Clone, Debug)]
pub struct VsftpdTls {
    /// Certificate chain (leaf first) and key, PEM (`rsa_cert_file`, `rsa_private_key_file`;
    /// an EC key works too).
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `ssl_ciphers` (TLS 1.2 and below; vsftpd's own default DES-CBC3-SHA is unusable).
    pub ciphers: String,
    /// `require_ssl_reuse`: data connections must resume the control session.
    pub require_ssl_reuse: bool,
    /// `implicit_ssl`: TLS from the first byte (an `ftps://` URL), no AUTH TLS.
    pub implicit: bool,
}

impl VsftpdTls {
    pub fn new(cert: &Path, key: &Path) -> VsftpdTls {
        VsftpdTls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            ciphers: "HIGH".into(),
            require_ssl_reuse: true,
            implicit: false,
        }
    }
}

/// vsftpd (`/usr/sbin/vsftpd`, run as root) in the foreground on 127.0.0.1: anonymous login
/// without a password, uploads into `upload/`, passive and active data connections.
pub struct Vsftpd {
    proc: ServerProc,
    pub port: u16,
    /// The anon_root (root-owned, 0755: vsftpd refuses a writable chroot).
    pub root: PathBuf,
    /// `ROOT/upload` (0777): anonymous uploads land here, owned by `ftp`, mode 0644.
    pub upload: PathBuf,
    /// The passive port range (inclusive).
    pub pasv_ports: (u16, u16),
    /// vsftpd.log: every command and reply (`log_ftp_protocol`), TLS details (`debug_ssl`).
    log: PathBuf,
    _dir: TempDir,
}

impl Vsftpd {
    /// Plain FTP (`ssl_enable=NO`).
    pub fn start() -> Vsftpd {
        Vsftpd::start_with(None, &[])
    }

    /// vsftpd's own explicit FTPS: TLS required for login and data, session reuse required.
    pub fn start_ftps(cert_pem: &Path, key_pem: &Path) -> Vsftpd {
        Vsftpd::start_with(Some(VsftpdTls::new(cert_pem, key_pem)), &[])
    }

    /// `tls` as given; `extra` are `name=value` lines appended to the configuration (a later line
    /// overrides an earlier one).
    pub fn start_with(tls: Option<VsftpdTls>, extra: &[&str]) -> Vsftpd {
        let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX);
        assert_eq!(uid, 0, "vsftpd needs root (it chroots and drops to the `ftp` user)");
        let dir = TempDir::new("vsftpd");
        let (root, upload) = served_root(dir.path());
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).unwrap_or_else(|e| panic!("{}: {e}", empty.display()));
        let token = token(dir.path());
        let conf = dir.path().join("vsftpd.conf");
        let mut last_error = String::new();
        for _ in 0..START_TRIES {
            let port = port_block(PASV_PORTS + 1);
            let pasv_ports = (port + 1, port + PASV_PORTS);
            let mut text = plain_config(dir.path(), &root, &empty, port, pasv_ports, &token);
            if let Some(tls) = &tls {
                text.push_str(&tls_config(tls));
            }
            for line in extra {
                text.push_str(line);
                text.push('\n');
            }
            std::fs::write(&conf, text).unwrap_or_else(|e| panic!("{}: {e}", conf.display()));
            let mut cmd = Command::new("/usr/sbin/vsftpd");
            cmd.arg(&conf).current_dir(dir.path());
            let (start_log, log) = (dir.path().join("startup.log"), dir.path().join("vsftpd.log"));
            let logs = vec![conf.clone(), start_log.clone(), log.clone()];
            let mut proc = ServerProc::spawn("vsftpd", cmd, &start_log, logs);
            let implicit = tls.as_ref().is_some_and(|t| t.implicit);
            match proc.wait_ready(port, &token, implicit) {
                Ok(()) => return Vsftpd { proc, port, root, upload, pasv_ports, log, _dir: dir },
                Err(e) => {
                    last_error = format!("{e}\n{}", proc.log_text());
                    // Dropped quietly (not panicking): the next try uses fresh ports.
                }
            }
        }
        panic!("vsftpd did not start in {START_TRIES} tries; last:\n{last_error}");
    }
}

fn plain_config(dir: &Path, root: &Path, empty: &Path, port: u16, pasv: (u16, u16), token: &str) -> String {
    format!(
        "listen=YES\nlisten_ipv6=NO\nbackground=NO\nlisten_address=127.0.0.1\nlisten_port={port}\n\
         ftpd_banner=attls test vsftpd {token}\n\
         anonymous_enable=YES\nlocal_enable=NO\nno_anon_password=YES\nanon_root={root}\n\
         write_enable=YES\nanon_upload_enable=YES\nanon_mkdir_write_enable=YES\n\
         anon_other_write_enable=YES\nanon_umask=022\nchown_uploads=NO\n\
         seccomp_sandbox=NO\nsecure_chroot_dir={empty}\n\
         pasv_enable=YES\npasv_min_port={}\npasv_max_port={}\npasv_promiscuous=NO\n\
         port_enable=YES\nport_promiscuous=NO\nconnect_from_port_20=NO\n\
         idle_session_timeout=120\ndata_connection_timeout=60\n\
         xferlog_enable=YES\nlog_ftp_protocol=YES\nvsftpd_log_file={}\n\
         ssl_enable=NO\n",
        pasv.0,
        pasv.1,
        dir.join("vsftpd.log").display(),
        root = root.display(),
        empty = empty.display(),
    )
}

fn tls_config(tls: &VsftpdTls) -> String {
    let yes = |b: bool| if b { "YES" } else { "NO" };
    format!(
        "ssl_enable=YES\nimplicit_ssl={}\nallow_anon_ssl=YES\n\
         force_anon_logins_ssl=YES\nforce_anon_data_ssl=YES\n\
         force_local_logins_ssl=YES\nforce_local_data_ssl=YES\n\
         require_ssl_reuse={}\nssl_sslv2=NO\nssl_sslv3=NO\nssl_tlsv1=YES\n\
         ssl_ciphers={}\nssl_request_cert=NO\ndebug_ssl=YES\n\
         rsa_cert_file={}\nrsa_private_key_file={}\n",
        yes(tls.implicit),
        yes(tls.require_ssl_reuse),
        tls.ciphers,
        tls.cert.display(),
        tls.key.display(),
    )
}

impl FtpServer for Vsftpd {
    fn name(&self) -> &'static str {
        "vsftpd"
    }
    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
    fn root(&self) -> &Path {
        &self.root
    }
    fn upload_dir(&self) -> &Path {
        &self.upload
    }
    fn pasv_ports(&self) -> (u16, u16) {
        self.pasv_ports
    }
    fn login(&self) -> Login {
        Login::ANONYMOUS
    }
    fn log_text(&self) -> String {
        self.proc.log_text()
    }
    fn commands(&self) -> Vec<String> {
        // `... FTP command: Client "127.0.0.1", "RETR x"`
        logged_commands(&self.log, "FTP command: Client \"", |rest| {
            rest.split_once("\", \"").and_then(|(_, c)| c.strip_suffix('"'))
        })
    }
}
