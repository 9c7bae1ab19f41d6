//! Smoke tests of the FTP harness (`support::ftp`): real clients (curl, lftp, Python ftplib,
//! openssl) straight against real servers (vsftpd, pyftpdlib), no attls in between. LIST, then RETR
//! and STOR of 0 B, 1 B and 10 MiB files compared by SHA-256 at both ends, in passive and active
//! mode; vsftpd's own FTPS, explicit and implicit.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::agent::{Pki, TempDir};
use crate::support::ftp::{
    self, ClientRun, FtpServer, Lftp, Login, Pyftpd, Vsftpd, VsftpdTls, curl, ftplib, ftplib_args, lftp,
    lftp_open, openssl_starttls_ftp, random_file, run_client, sha256_file, url,
};

/// The transferred sizes: empty, one byte, 10 MiB.
const SIZES: [(&str, usize); 3] = [("0B", 0), ("1B", 1), ("10MiB", 10 << 20)];

#[derive(Clone, Copy, Debug)]
enum Client {
    Curl,
    Lftp,
    Ftplib,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Passive,
    Active,
}

/// Files on both ends of one round: `down-SIZE` in the server's root (to RETR), `up-SIZE` on the
/// client side (to STOR into `upload/`), with their SHA-256 sums.
struct Round {
    local: TempDir,
    down: Vec<(String, String)>,
    up: Vec<(PathBuf, String, String)>,
}

impl Round {
    fn new(server: &dyn FtpServer) -> Round {
        let local = TempDir::new("ftp-client");
        let down = SIZES
            .iter()
            .map(|(tag, len)| server.random_file(&format!("down-{tag}"), *len))
            .collect::<Vec<_>>();
        let down = down.into_iter().map(|(p, sha)| (file_name(&p), sha)).collect();
        let up = SIZES
            .iter()
            .map(|(tag, len)| {
                let (path, sha) = random_file(local.path(), &format!("up-{tag}"), *len);
                let name = file_name(&path);
                (path, name, sha)
            })
            .collect();
        Round { local, down, up }
    }

    /// Where the client stores the download of `name`.
    fn got(&self, name: &str) -> PathBuf {
        self.local.path().join(format!("got-{name}"))
    }

    /// The listing names every download and `upload`; each file arrived intact at both ends.
    #[track_caller]
    fn check(&self, server: &dyn FtpServer, listing: &str) {
        for name in self.down.iter().map(|(n, _)| n.as_str()).chain(["upload"]) {
            assert!(listing.contains(name), "{}: `{name}` not listed in:\n{listing}", server.name());
        }
        for (name, sha) in &self.down {
            let got = self.got(name);
            assert!(got.is_file(), "{}: RETR {name}: no local file {}", server.name(), got.display());
            assert_eq!(&sha256_file(&got), sha, "{}: RETR {name} differs", server.name());
        }
        for (_, name, sha) in &self.up {
            let stored = server.upload_dir().join(name);
            assert!(stored.is_file(), "{}: STOR {name}: nothing at {}", server.name(), stored.display());
            assert_eq!(&sha256_file(&stored), sha, "{}: STOR {name} differs", server.name());
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().expect("file name").to_string_lossy().into_owned()
}

/// The data lines `ftp_client.py` printed for `op` (`list| LINE`).
fn data_lines(run: &ClientRun, op: &str) -> String {
    let prefix = format!("{op}| ");
    run.stdout.lines().filter_map(|l| l.strip_prefix(prefix.as_str())).collect::<Vec<_>>().join("\n")
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// LIST, RETR and STOR of every size with `client` in `mode`; returns nothing, panics on a
/// difference.
fn round_trip(server: &dyn FtpServer, client: Client, mode: Mode) {
    let round = Round::new(server);
    let (addr, login) = (server.addr(), server.login());
    let listing = match client {
        Client::Curl => {
            let mode_args: Vec<String> = match mode {
                Mode::Active => vec!["-P".into(), "-".into()],
                Mode::Passive => vec![],
            };
            let list = curl(&strs(&[mode_args.clone(), vec![url("ftp", addr, login, "")]].concat()));
            let mut get = mode_args.clone();
            for (name, _) in &round.down {
                get.extend([
                    "-o".into(),
                    round.got(name).display().to_string(),
                    url("ftp", addr, login, name),
                ]);
            }
            curl(&strs(&get)).assert_ok();
            let mut put = mode_args;
            for (path, name, _) in &round.up {
                put.extend(["-T".into(), path.display().to_string()]);
                put.push(url("ftp", addr, login, &format!("upload/{name}")));
            }
            curl(&strs(&put)).assert_ok();
            list.assert_ok().stdout.clone()
        }
        Client::Lftp => {
            let mut script = vec![lftp_open(addr, login), "ls".into()];
            for (name, _) in &round.down {
                script.push(format!("get {name} -o {}", round.got(name).display()));
            }
            for (path, name, _) in &round.up {
                script.push(format!("put {} -o upload/{name}", path.display()));
            }
            let lftp = if mode == Mode::Active { Lftp::new().active() } else { Lftp::new() };
            lftp.run(&script.join("\n")).assert_ok().stdout.clone()
        }
        Client::Ftplib => {
            let mut args = ftplib_args(addr, login);
            if mode == Mode::Active {
                args.push("--active".into());
            }
            args.push("list".into());
            for (name, _) in &round.down {
                args.extend(["retr".into(), name.clone(), round.got(name).display().to_string()]);
            }
            for (path, name, _) in &round.up {
                args.extend(["stor".into(), path.display().to_string(), format!("upload/{name}")]);
            }
            let run = ftplib(&strs(&args));
            run.assert_ok();
            assert!(run.stdout.contains("retr: 226"), "no 226 after RETR:\n{run}");
            data_lines(&run, "list")
        }
    };
    round.check(server, &listing);
    let verbs: Vec<String> =
        server.commands().iter().filter_map(|c| c.split_whitespace().next().map(str::to_uppercase)).collect();
    let used = |vs: [&str; 2]| verbs.iter().any(|v| vs.contains(&v.as_str()));
    let (passive, active) = (used(["PASV", "EPSV"]), used(["PORT", "EPRT"]));
    assert_eq!((passive, active), (mode == Mode::Passive, mode == Mode::Active), "{mode:?}: {verbs:?}");
}

macro_rules! round_trips {
    ($($name:ident: $server:ident, $client:ident, $mode:ident;)*) => {$(
        #[test]
        fn $name() {
            let server = $server::start();
            round_trip(&server, Client::$client, Mode::$mode);
        }
    )*};
}

round_trips! {
    vsftpd_curl_passive: Vsftpd, Curl, Passive;
    vsftpd_curl_active: Vsftpd, Curl, Active;
    vsftpd_lftp_passive: Vsftpd, Lftp, Passive;
    vsftpd_lftp_active: Vsftpd, Lftp, Active;
    vsftpd_ftplib_passive: Vsftpd, Ftplib, Passive;
    vsftpd_ftplib_active: Vsftpd, Ftplib, Active;
    pyftpd_curl_passive: Pyftpd, Curl, Passive;
    pyftpd_curl_active: Pyftpd, Curl, Active;
    pyftpd_lftp_passive: Pyftpd, Lftp, Passive;
    pyftpd_lftp_active: Pyftpd, Lftp, Active;
    pyftpd_ftplib_passive: Pyftpd, Ftplib, Passive;
    pyftpd_ftplib_active: Pyftpd, Ftplib, Active;
}

/// PASV and EPSV replies name a port in the configured range (PASV: the control address).
fn passive_replies(server: &dyn FtpServer) {
    let args = [
        ftplib_args(server.addr(), server.login()),
        ["raw", "PASV", "raw", "EPSV"].map(String::from).to_vec(),
    ]
    .concat();
    let run = ftplib(&strs(&args));
    run.assert_ok();
    let (lo, hi) = server.pasv_ports();
    let pasv = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("raw: 227 "))
        .unwrap_or_else(|| panic!("no 227:\n{run}"));
    let nums: Vec<u16> = pasv
        .rsplit_once('(')
        .and_then(|(_, t)| t.split(')').next())
        .map(|t| t.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_default();
    assert_eq!(nums.len(), 6, "{pasv}");
    assert_eq!(nums[..4], [127, 0, 0, 1], "{pasv}");
    assert!((lo..=hi).contains(&(nums[4] * 256 + nums[5])), "{pasv} not in {lo}-{hi}");
    let epsv = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("raw: 229 "))
        .unwrap_or_else(|| panic!("no 229:\n{run}"));
    let port: u16 = epsv.split('|').nth(3).and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("{epsv}"));
    assert!((lo..=hi).contains(&port), "{epsv} not in {lo}-{hi}");
}

#[test]
fn vsftpd_passive_replies() {
    passive_replies(&Vsftpd::start());
}

#[test]
fn pyftpd_passive_replies() {
    passive_replies(&Pyftpd::start());
}

#[test]
fn pyftpd_anonymous_may_read_but_not_store() {
    let server = Pyftpd::start();
    let data = server.put_file("hello.txt", b"hello\n");
    assert!(data.is_file());
    let addr = server.addr();
    let got = curl(&[&url("ftp", addr, Login::ANONYMOUS, "hello.txt")]);
    assert_eq!(got.assert_ok().stdout, "hello\n");
    let local = TempDir::new("ftp-client");
    let (path, _) = random_file(local.path(), "x", 10);
    let put = curl(&["-T", &path.display().to_string(), &url("ftp", addr, Login::ANONYMOUS, "upload/x")]);
    put.assert_failed();
    assert!(put.stderr.contains("550") || put.stderr.contains("denied"), "{put}");
    assert!(!server.upload_dir().join("x").exists());
    // Bad credentials are refused.
    let bad = Login { user: "test", password: "wrong" };
    let run = ftplib(&strs(&[ftplib_args(addr, bad), vec!["list".into()]].concat()));
    run.assert_failed();
    assert!(run.stdout.contains("error: login: error_perm: 530"), "{run}");
}

#[test]
fn vsftpd_extra_lines_override_the_defaults() {
    let server = Vsftpd::start_with(None, &["pasv_enable=NO"]);
    let list = url("ftp", server.addr(), Login::ANONYMOUS, "");
    curl(&["-P", "-", &list]).assert_ok();
    let passive = curl(&["--disable-epsv", &list]);
    passive.assert_failed();
    assert!(server.log_text().contains("550 Permission denied"), "{}", server.log_text());
}

/// A fresh PKI (CA + `localhost` server certificate) in `dir`.
fn pki(dir: &TempDir) -> Pki {
    Pki::write(dir.path(), "pki")
}

#[test]
fn vsftpd_ftps_with_curl() {
    let dir = TempDir::new("ftps-client");
    let pki = pki(&dir);
    let tls = VsftpdTls {
        ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256".into(),
        ..VsftpdTls::new(&pki.server_pem, &pki.server_key)
    };
    let server = Vsftpd::start_with(Some(tls), &[]);
    let addr = server.addr();
    let (_, sha) = server.random_file("one", 1 << 20);
    let got = dir.path().join("got");
    let retr = curl(&[
        "--ssl-reqd",
        "-k",
        "-v",
        "-o",
        &got.display().to_string(),
        &url("ftp", addr, Login::ANONYMOUS, "one"),
    ]);
    retr.assert_ok();
    assert!(retr.stderr.contains("SSL connection using TLSv1.3"), "{retr}");
    assert_eq!(sha256_file(&got), sha);
    // TLS 1.2 gets the configured cipher; the name is checked against the CA with --resolve.
    let (path, up_sha) = random_file(dir.path(), "up", 1 << 20);
    let host_url = format!("ftp://localhost:{}/upload/up", server.port);
    let resolve = format!("localhost:{}:127.0.0.1", server.port);
    let ca = pki.ca.display().to_string();
    let stor = curl(&[
        "--ssl-reqd",
        "--tls-max",
        "1.2",
        "--cacert",
        &ca,
        "--resolve",
        &resolve,
        "-v",
        "-T",
        &path.display().to_string(),
        &host_url,
    ]);
    stor.assert_ok();
    assert!(stor.stderr.contains("SSL connection using TLSv1.2 / ECDHE-ECDSA-AES128-GCM-SHA256"), "{stor}");
    assert_eq!(sha256_file(&server.upload.join("up")), up_sha);
    // Listing over PASV (not EPSV); plain FTP is refused (force_anon_logins_ssl). Not active mode:
    // curl 7.87-7.88 (Debian 12) hangs on active FTPS data connections (curl#10666).
    let list = curl(&["--ssl-reqd", "-k", "--disable-epsv", &url("ftp", addr, Login::ANONYMOUS, "")]);
    assert!(list.assert_ok().stdout.contains("one"), "{list}");
    let plain = curl(&[&url("ftp", addr, Login::ANONYMOUS, "")]);
    plain.assert_failed();
}

#[test]
fn vsftpd_ftps_with_ftplib_lftp_and_openssl() {
    let dir = TempDir::new("ftps-client");
    let pki = pki(&dir);
    let server = Vsftpd::start_ftps(&pki.server_pem, &pki.server_key);
    let addr = server.addr();
    let ca = pki.ca.display().to_string();
    let (_, sha) = server.random_file("one", 1 << 20);
    let (path, up_sha) = random_file(dir.path(), "up", 1 << 20);
    let got = dir.path().join("got").display().to_string();

    // ftplib resuming the control session on data connections: what require_ssl_reuse demands.
    let tls = ["--tls", "explicit", "--cafile", &ca, "--prot-p"].map(String::from);
    let ops =
        ["list", "retr", "one", &got, "stor", &path.display().to_string(), "upload/up"].map(String::from);
    let args =
        [ftplib_args(addr, Login::ANONYMOUS), tls.to_vec(), vec!["--reuse-session".into()], ops.to_vec()]
            .concat();
    let run = ftplib(&strs(&args));
    run.assert_ok();
    assert!(run.stdout.contains("tls: TLSv1.3"), "{run}");
    assert!(run.stdout.contains("reused=True") && !run.stdout.contains("reused=False"), "{run}");
    assert_eq!(sha256_file(Path::new(&got)), sha);
    assert_eq!(sha256_file(&server.upload.join("up")), up_sha);
    // Without resumption vsftpd refuses the data connection.
    let run =
        ftplib(&strs(&[ftplib_args(addr, Login::ANONYMOUS), tls.to_vec(), vec!["list".into()]].concat()));
    run.assert_failed();
    assert!(run.stdout.contains("522 SSL connection failed: session reuse required"), "{run}");
    // PROT C is refused at the data connection; a plain login is refused (force_anon_*_ssl).
    let args =
        [ftplib_args(addr, Login::ANONYMOUS), tls.to_vec(), ["prot-c", "list"].map(String::from).to_vec()]
            .concat();
    let run = ftplib(&strs(&args));
    assert!(run.assert_failed().stdout.contains("error: list: error_perm: 522"), "{run}");
    let args = [
        ftplib_args(addr, Login::ANONYMOUS),
        ["--no-login", "raw", "USER anonymous"].map(String::from).to_vec(),
    ]
    .concat();
    let run = ftplib(&strs(&args));
    assert!(run.assert_ok().stdout.contains("raw: 530 Anonymous sessions must use encryption."), "{run}");
    // Active data connections are protected too.
    let args = [
        ftplib_args(addr, Login::ANONYMOUS),
        tls.to_vec(),
        ["--reuse-session", "--active", "nlst"].map(String::from).to_vec(),
    ]
    .concat();
    assert_eq!(data_lines(ftplib(&strs(&args)).assert_ok(), "nlst"), "one\nupload");

    // lftp, certificate checked (the name is localhost).
    let lftp = Lftp::new().ssl_force(true).ca_file(&pki.ca);
    let open = format!("open -u anonymous,x ftp://localhost:{}", server.port);
    let run = lftp.run(&format!("{open}\nls\nget one -o {got}.lftp"));
    assert!(run.assert_ok().stdout.contains("one"), "{run}");
    assert_eq!(sha256_file(Path::new(&format!("{got}.lftp"))), sha);
    // Without a certificate check, to 127.0.0.1.
    let run =
        Lftp::new().ssl_force(true).no_verify().run(&format!("{}\nls", lftp_open(addr, Login::ANONYMOUS)));
    assert!(run.assert_ok().stdout.contains("one"), "{run}");
    // Plain lftp is refused at login.
    ftp::lftp(&format!("{}\nls", lftp_open(addr, Login::ANONYMOUS))).assert_failed();

    // openssl s_client: AUTH TLS, then commands in TLS.
    // (openssl exits 1 here: vsftpd closes after QUIT without a close_notify.)
    let run = openssl_starttls_ftp(server.port, &pki.ca, "USER anonymous\nPWD\nQUIT\n");
    assert!(!run.timed_out() && run.stdout.contains("Verification: OK"), "{run}");
    for want in ["230 Login successful", "257 \"/\"", "221 Goodbye"] {
        assert!(run.stdout.contains(want), "no `{want}`:\n{run}");
    }
}

#[test]
fn vsftpd_implicit_ftps() {
    let dir = TempDir::new("ftps-client");
    let pki = pki(&dir);
    let tls = VsftpdTls { implicit: true, ..VsftpdTls::new(&pki.server_pem, &pki.server_key) };
    let server = Vsftpd::start_with(Some(tls), &[]);
    server.put_file("hello.txt", b"hello\n");
    let got = curl(&["-k", &url("ftps", server.addr(), Login::ANONYMOUS, "hello.txt")]);
    assert_eq!(got.assert_ok().stdout, "hello\n");
    let ca = pki.ca.display().to_string();
    let args = [
        ftplib_args(server.addr(), Login::ANONYMOUS),
        ["--tls", "implicit", "--cafile", &ca, "--prot-p", "--reuse-session", "nlst"]
            .map(String::from)
            .to_vec(),
    ]
    .concat();
    let run = ftplib(&strs(&args));
    assert!(run.assert_ok().stdout.contains("nlst| hello.txt"), "{run}");
}

#[test]
fn random_file_matches_sha256_file() {
    let dir = TempDir::new("ftp-data");
    let (path, sha) = random_file(dir.path(), "big", 100 << 20);
    assert_eq!(std::fs::metadata(&path).expect("big").len(), 100 << 20);
    assert_eq!(sha256_file(&path), sha);
    let (_, other) = random_file(dir.path(), "other", 100 << 20);
    assert_ne!(sha, other, "different names give different data");
    let (_, empty) = random_file(dir.path(), "empty", 0);
    assert_eq!(empty, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

#[test]
fn a_hung_client_is_killed_at_its_timeout() {
    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    let run = run_client(cmd, None, Duration::from_millis(300));
    assert!(run.timed_out() && !run.success(), "{run}");
    assert!(run.elapsed < Duration::from_secs(10), "{run}");
    // lftp's own default script runs too (the free function).
    let run = lftp("echo hi");
    assert_eq!(run.assert_ok().stdout.trim(), "hi");
}
