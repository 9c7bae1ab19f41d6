//! Writes the seed corpora in `fuzz/corpus/TARGET/` (an ignored test: `cargo test --manifest-path
//! fuzz/Cargo.toml -- --ignored write_seed_corpora`): the project's policy fixtures and shipped
//! policies, main configurations, FTP lines and replies as clients and servers send them, telnet
//! negotiations, control requests from docs/control-protocol.md, and PEM from a generated test PKI.

use std::fs;
use std::path::{Path, PathBuf};

use attls::policy::catalog::{ALL_KINDS, ValueType};
use attls::tn3270::settings::ConnType;

use crate::ftp_script::{Seed, encode};
use crate::tn_script::{self, Seed as Tn};

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    fs::create_dir_all(&dir).expect("corpus directory");
    dir
}

fn write(target: &str, name: &str, bytes: impl AsRef<[u8]>) {
    fs::write(corpus(target).join(name), bytes).expect("seed file");
}

/// Every `.pol` file under `dir`, as `prefix-NAME`.
fn copy_policies(dir: &Path, prefix: &str) {
    for entry in fs::read_dir(dir).expect("fixture directory").flatten() {
        let path = entry.path();
        if path.is_dir() {
            let sub = format!("{prefix}-{}", path.file_name().unwrap().to_string_lossy());
            copy_policies(&path, &sub);
        } else if path.extension().is_some_and(|e| e == "pol" || e == "conf") {
            let name = format!("{prefix}-{}", path.file_name().unwrap().to_string_lossy());
            let target = if path.extension().is_some_and(|e| e == "conf") { "config" } else { "policy" };
            write(target, &name, fs::read(&path).expect("fixture"));
        }
    }
}

const CONFIGS: &[(&str, &str)] = &[
    (
        "ftp.conf",
        "TTLSConfig ftp.pol NOFLUSH PURGE\nKeyringMap FTPD/FTPRING /etc/attls/keys/ftpd.pem\nListener FTPD1\n{\n  Listen 0.0.0.0:21\n  Backend 127.0.0.1:2121\n  Direction Inbound\n  Protocol Ftp\n  SecureFtp Required\n  SecureLogin VerifyUser\n  SecureDataConn Private\n  SessionReuse Allowed\n  Ccc Allowed\n  PassivePorts 50000-50200\n  PassiveAddress 203.0.113.5\n}\n",
    ),
    (
        "tn3270.conf",
        "CommonTTLSConfig common.pol\nTTLSConfig tn3270.pol\nListener TN3270A\n{\n  Listen [::]:992\n  Backend localhost:2323\n  Direction Inbound\n  Protocol Tn3270\n  ConnType NegSecure\n  ClientAuth SafCert\n  StartTlsWait 5\n  Jobname TN3270A\n  Userid TCPIP\n}\n",
    ),
    (
        "transparent.conf",
        "TTLSConfig /etc/attls/t.pol\nStrict On\nControlGroup attls\nRefreshInterval 0\nMaxConnections 100\nShutdownDrain 5\nListener T1\n{\n  Listen 127.0.0.1:15001\n  Direction Inbound\n  Transparent Tproxy\n  ProtocolPorts Ftp 21,990\n  ProtocolPorts Tn3270 23,992\n  NoPolicy Clear\n  JobnameFrom Unit\n  MaxConnectionsPerSource 10\n  Backlog 128\n  ConnectTimeout 3\n  IdleTimeout 600\n}\n",
    ),
    (
        "outbound.conf",
        "TcpImage TCPIP NOFLUSH 60\nTTLSConfig out.pol\nLogLevel 511\nCodepage IBM-1047\nDevKeyring ./dev\nDemoBackend 127.0.0.1:8080\nControlSocket ./pagent.sock\nListener OUT1\n{\n  Listen 127.0.0.1:8025\n  Backend mail.example.com:465\n  Direction Outbound\n  ClientHelloHold 250\n}\nListener OUT1\n{\n  Listen 127.0.0.1:8026\n  Backend [2001:db8::1]:465\n  Direction Outbound\n  Protocol Ftp\n}\n",
    ),
    (
        "errors.conf",
        "TTLSConfig //'SYS1.TCPPARMS(TTLS)'\nRefreshInterval 999999999\nListenr X\n{\n}\nListener Y\n{\n  Listen nowhere\n  SecureFtp Maybe\n}\n",
    ),
];

const FTP_LINES: &[&str] = &[
    "AUTH TLS\r\n",
    "PBSZ 0\r\n",
    "PROT P\r\n",
    "USER anonymous\r\n",
    "PASS ftp@example.com\r\n",
    "SYST\r\n",
    "FEAT\r\n",
    "PWD\r\n",
    "TYPE I\r\n",
    "EPSV\r\n",
    "PASV\r\n",
    "SIZE file.bin\r\n",
    "RETR file.bin\r\n",
    "STOR upload.bin\r\n",
    "LIST -la\r\n",
    "MLSD /pub\r\n",
    "OPTS UTF8 ON\r\n",
    "CWD /pub/dir with spaces\r\n",
    "PORT 192,0,2,10,195,80\r\n",
    "EPRT |2|2001:db8::10|50001|\r\n",
    "EPRT |1|192.0.2.10|50000|\r\n",
    "REST 1024\r\n",
    "CCC\r\n",
    "QUIT\r\n",
    "\u{FF}\u{F4}\u{FF}\u{F2}ABOR\r\n",
    "RETR caf\u{E9}\n",
];

const FTP_REPLIES: &[&str] = &[
    "220 (vsFTPd 3.0.3)\r\n331 Please specify the password.\r\n230 Login successful.\r\n",
    "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n",
    "227 Entering Passive Mode (127,0,0,1,195,80).\r\n150 Opening BINARY mode data connection.\r\n226 Transfer complete.\r\n",
    "229 Entering Extended Passive Mode (|||50000|)\r\n",
    "220-ProFTPD Server\n220-multi\n220 ready\n",
    "500 'XYZ': command not understood\r\n421 Timeout.\r\n",
    "257 \"/home/ftp\" is the current directory\r\n550 caf\u{E9}: No such file\r\n",
];

fn ftp_sessions() {
    let curl = [
        Seed::Reply("220 (vsFTPd"),
        Seed::Cmd("AUTH SSL"),
        Seed::TlsOk(false),
        Seed::Cmd("USER anonymous"),
        Seed::Reply("331"),
        Seed::Cmd("PASS secret"),
        Seed::Reply("230"),
        Seed::Cmd("PBSZ 0"),
        Seed::Cmd("PROT P"),
        Seed::Cmd("PWD"),
        Seed::Reply("257"),
        Seed::Cmd("EPSV"),
        Seed::Reply("229"),
        Seed::Cmd("TYPE I"),
        Seed::Reply("200"),
        Seed::Cmd("RETR f.txt"),
        Seed::Reply("150"),
        Seed::Reply("226"),
        Seed::Cmd("QUIT"),
        Seed::Reply("221"),
    ];
    write("ftp_session", "curl-ftps-private", encode([1, 0, 3, 0, 1, 0, 0, 0, 0], &curl));
    let lftp = [
        Seed::Reply("220-Welcome"),
        Seed::Cmd("FEAT"),
        Seed::Reply("211-Features"),
        Seed::Cmd("AUTH TLS"),
        Seed::TlsOk(true),
        Seed::Cmd("USER ftp"),
        Seed::Cmd("PASS secret"),
        Seed::Reply("331"),
        Seed::Reply("230"),
        Seed::Cmd("PBSZ 0"),
        Seed::Cmd("PROT P"),
        Seed::Cmd("PASV"),
        Seed::Cmd("LIST"),
        Seed::Reply("227 Entering Passive Mode (127"),
        Seed::Reply("150"),
        Seed::Reply("226"),
        Seed::Cmd("PROT C"),
        Seed::Cmd("CCC"),
        Seed::Cmd("PORT 192,0,2,10,195,80"),
        Seed::Reply("200"),
    ];
    write("ftp_session", "lftp-pipelined", encode([0, 1, 1, 1, 1, 0, 0, 0, 0], &lftp));
    let ftplib = [
        Seed::Reply("220 (vsFTPd"),
        Seed::Cmd("USER anonymous"),
        Seed::Cmd("AUTH TLS"),
        Seed::TlsOk(false),
        Seed::Cmd("PBSZ 0"),
        Seed::Cmd("PROT P"),
        Seed::Cmd("EPRT |1|192.0.2.10|50000|"),
        Seed::Reply("227 Entering Passive Mode (127"),
        Seed::Cmd("STOR up.bin"),
        Seed::Reply("150"),
        Seed::Reply("426"),
        Seed::Burst(70, "NOOP"),
    ];
    write("ftp_session", "ftplib-required-burst", encode([1, 0, 1, 0, 1, 0, 0, 0, 0], &ftplib));
    let implicit = [Seed::TlsOk(true), Seed::Reply("220 (vsFTPd"), Seed::Cmd("EPSV 2"), Seed::Cmd("MLSD")];
    write("ftp_session", "implicit-v6", encode([0, 2, 2, 0, 1, 1, 1, 1, 0], &implicit));
}

fn tn3270() {
    let pieces = |p: &[u8]| tn_script::PIECES.iter().position(|x| *x == p).expect("a piece");
    let s3270 = pieces(&[0xFF, 0xFB, 0x2E, 0xFF, 0xFA, 0x2E, 0x01, 0xFF, 0xF0]);
    let hello = pieces(tn_script::HELLO);
    let cases: &[(&str, ConnType, Vec<Tn>)] = &[
        ("direct-secure", ConnType::Secure, vec![Tn::Piece(hello)]),
        ("negotiated-s3270", ConnType::NegTSecure, vec![Tn::Piece(s3270), Tn::Piece(hello)]),
        ("wait-then-will", ConnType::Secure, vec![Tn::Wait, Tn::Piece(0), Tn::Piece(1), Tn::Piece(hello)]),
        ("any-refused", ConnType::Any, vec![Tn::Piece(6), Tn::Piece(8), Tn::Piece(3), Tn::Piece(21)]),
        ("any-timeout", ConnType::Any, vec![Tn::Piece(9), Tn::Timeout]),
        ("basic", ConnType::Basic, vec![Tn::Piece(7), Tn::Eof]),
    ];
    for (name, ct, steps) in cases {
        write("tn3270", name, tn_script::encode(*ct, true, steps));
    }
    for (name, bytes) in [
        ("will-follows", [0xFF, 0xFB, 0x2E, 0xFF, 0xFA, 0x2E, 0x01, 0xFF, 0xF0].as_slice()),
        ("terminal-type", &[0xFF, 0xFD, 0x18, 0xFF, 0xFA, 0x18, 0x00, b'I', b'B', b'M', 0xFF, 0xF0]),
        ("iac-iac-data", &[b'a', 0xFF, 0xFF, b'b', 0xFF, 0xF1, 0xFF, 0xEF]),
        ("bad-subneg", &[0xFF, 0xFA, 0x2E, 0x01, 0xFF, 0x00]),
    ] {
        write("telnet", name, bytes);
    }
}

fn first_bytes() {
    write("first_bytes", "tls12-hello", tn_script::HELLO);
    write("first_bytes", "tls13-record", [0x16, 0x03, 0x04, 0x00, 0x10]);
    write("first_bytes", "telnet-will", [0xFF, 0xFB, 0x2E]);
    write("first_bytes", "ssl2-hello", [0x80, 0x2E, 0x01, 0x00, 0x02]);
    write("first_bytes", "http", b"GET / HTTP/1.1\r\n");
}

/// A rustls client's first flight for `name` with `alpn`, TLS 1.3 and 1.2 or (`tls12_only`) 1.2.
fn rustls_hello(name: &str, alpn: &[&[u8]], tls12_only: bool) -> Vec<u8> {
    use std::sync::Arc;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] =
        if tls12_only { &[&rustls::version::TLS12] } else { rustls::DEFAULT_VERSIONS };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    let name = rustls::pki_types::ServerName::try_from(name.to_string()).expect("name");
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).expect("write_tls");
    }
    out
}

/// The handshake message of a one-record hello re-framed in records of `size` bytes.
fn reframed(hello: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in hello[5..].chunks(size) {
        out.extend([0x16, 0x03, 0x01]);
        out.extend(u16::try_from(chunk.len()).expect("short").to_be_bytes());
        out.extend(chunk);
    }
    out
}

fn client_hello() {
    let h13 = rustls_hello("example.com", &[b"h2", b"http/1.1"], false);
    write("client_hello", "rustls-tls13-sni-alpn", &h13);
    write("client_hello", "rustls-tls12-only", rustls_hello("localhost", &[], true));
    write("client_hello", "rustls-split-64", reframed(&h13, 64));
    write("client_hello", "tn3270-hello", tn_script::HELLO);
    write("client_hello", "http", b"GET / HTTP/1.1\r\n");
    write("client_hello", "ssl2-hello", [0x80, 0x2E, 0x01, 0x00, 0x02]);
}

fn control() {
    let requests = [
        r#"{"v":1,"op":"query","conn":"0000002A"}"#,
        r#"{"v":1,"op":"query","app_peer":"127.0.0.1:40112"}"#,
        r#"{"v":1,"op":"query","app_peer":"127.0.0.1:8443","app_local":"127.0.0.1:40112"}"#,
        r#"{"v":1,"op":"init","app_peer":"127.0.0.1:40112","written":25}"#,
        r#"{"v":1,"op":"init","conn":"42","allow_hstimeout":true}"#,
        r#"{"v":1,"op":"stop","conn":"42","written":1024}"#,
        r#"{"v":1,"op":"netstat","conn":"0000002A","detail":true}"#,
        r#"{"v":1,"op":"refresh"}"#,
        r#"{"v":2,"op":"reset_cipher","conn":"1","unknown":[1,2.5,null]}"#,
        r#"{"op":"return_certificate","v":1,"conn":"\u0000A"}"#,
    ];
    for (i, r) in requests.iter().enumerate() {
        write("control_request", &format!("request-{i}"), format!("{r}\n"));
    }
}

fn keyring() {
    let dir = std::env::temp_dir().join(format!("attls-fuzz-seeds-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    attls::keyring::write_test_pki(
        &dir,
        &[("server", "localhost", false), ("client", "client.example", true)],
    )
    .expect("test PKI");
    let read = |name: &str| fs::read_to_string(dir.join(name)).expect("PKI file");
    let (ca, server, key, client, client_key) =
        (read("ca.pem"), read("server.pem"), read("server.key"), read("client.pem"), read("client.key"));
    write("keyring", "ca", &ca);
    write("keyring", "server-chain-and-key", format!("# label: web\n{server}{key}"));
    write("keyring", "key-only", &key);
    write(
        "keyring",
        "dir",
        format!(
            "@@ ca.pem\n{ca}@@ server.pem\n{server}@@ server.key\n{key}@@ client.crt\n# label: cli\n{client}@@ client.key\n{client_key}@@ .hidden.pem\n{key}@@ notes.txt\nnot a key\n"
        ),
    );
    write("keyring", "dir-mismatch", format!("@@pw\n@@ server.pem\n{server}@@ server.key\n{client_key}"));
    let _ = fs::remove_dir_all(&dir);
}

/// The main configuration's keywords and values (docs/policy-reference.md#main-configuration-pagentconf).
const CONFIG_WORDS: &[&str] = &[
    "TTLSConfig",
    "CommonTTLSConfig",
    "ControlSocket",
    "ControlGroup",
    "RefreshInterval",
    "MaxConnections",
    "ShutdownDrain",
    "Strict",
    "KeyringMap",
    "DevKeyring",
    "DemoBackend",
    "LogLevel",
    "Codepage",
    "TcpImage",
    "Listener",
    "Listen",
    "Backend",
    "Direction",
    "Protocol",
    "Jobname",
    "Userid",
    "ClientHelloHold",
    "Transparent",
    "ProtocolPorts",
    "NoPolicy",
    "MaxConnectionsPerSource",
    "Backlog",
    "ConnectTimeout",
    "IdleTimeout",
    "JobnameFrom",
    "SecureFtp",
    "SecureLogin",
    "SecureDataConn",
    "SessionReuse",
    "Ccc",
    "PassivePorts",
    "PassiveAddress",
    "ConnType",
    "ClientAuth",
    "StartTlsWait",
    "FLUSH",
    "NOFLUSH",
    "PURGE",
    "NOPURGE",
    "Inbound",
    "Outbound",
    "Raw",
    "Ftp",
    "Tn3270",
    "Redirect",
    "Tproxy",
    "Refuse",
    "Clear",
    "Command",
    "Unit",
    "Allowed",
    "Required",
    "NoClientAuth",
    "VerifyUser",
    "Never",
    "Safe",
    "Private",
    "Refused",
    "None",
    "Secure",
    "NegTSecure",
    "NegSecure",
    "Any",
    "Basic",
    "SslCert",
    "SafCert",
    "On",
    "Off",
    "127.0.0.1:",
    "[::1]:",
    "{",
    "}",
    "#",
    "\\x0A",
];

/// libFuzzer dictionaries (`fuzz/dict/TARGET.dict`): the policy language's statements, parameters
/// and enumerated values from the catalog, and the main configuration's words.
fn dictionaries() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dict");
    fs::create_dir_all(&dir).expect("dict directory");
    let mut words: Vec<&str> = vec!["{", "}", "#", ";", "\\x0A", "\\\"", "10.0.0.0/8", "::1", "1-65535", "*"];
    for kind in ALL_KINDS {
        words.push(kind.keyword());
        for param in kind.params() {
            words.push(param.name);
            if let ValueType::Enum(values) = param.ty {
                words.extend(values);
            }
        }
    }
    words.sort_unstable();
    words.dedup();
    let line = |w: &&str| format!("\"{w}\"\n");
    fs::write(dir.join("policy.dict"), words.iter().map(line).collect::<String>()).expect("policy.dict");
    let config: String = CONFIG_WORDS.iter().map(line).collect();
    fs::write(dir.join("config.dict"), config).expect("config.dict");
}

#[test]
#[ignore = "writes fuzz/corpus; run by hand after changing a target's input format"]
fn write_seed_corpora() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    copy_policies(&root.join("tests/fixtures/policy"), "fixture");
    copy_policies(&root.join("policies"), "shipped");
    for (name, text) in CONFIGS {
        write("config", name, text);
    }
    for (i, line) in FTP_LINES.iter().enumerate() {
        let bytes: Vec<u8> = line.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect();
        write("ftp_command", &format!("line-{i:02}"), bytes);
    }
    // At the line limit: the longest accepted line (bare LF), and one byte more (refused).
    let mut at_limit = b"STOR ".to_vec();
    at_limit.resize(attls::ftp::command::MAX_LINE - 1, b'x');
    write("ftp_command", "at-limit", [at_limit.as_slice(), b"\n"].concat());
    write("ftp_command", "over-limit", [at_limit.as_slice(), b"\r\n"].concat());
    for (i, r) in FTP_REPLIES.iter().enumerate() {
        let bytes: Vec<u8> = r.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect();
        write("ftp_reply", &format!("replies-{i}"), bytes);
    }
    ftp_sessions();
    tn3270();
    first_bytes();
    client_hello();
    control();
    keyring();
    dictionaries();
}
