//! Dates from certificates, what `ExpiryWarningDays` makes of them, and the record the netstat
//! detail reads.

use super::*;

const DAY: Duration = Duration::from_secs(86_400);

/// A self-signed DER certificate for `cn` valid until `y-m-d`.
fn cert_until(cn: &str, (y, m, d): (i32, u8, u8)) -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.not_after = rcgen::date_time_ymd(y, m, d);
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("certificate").der().to_vec()
}

/// A TLS rule's settings from a one-rule policy.
fn settings() -> Arc<Settings> {
    let policy = "TTLSRule r\n{\n  LocalPortRange 443\n  Direction Inbound\n  TTLSGroupActionRef g\n  TTLSEnvironmentActionRef e\n}\n\
                  TTLSGroupAction g\n{\n  TTLSEnabled On\n}\n\
                  TTLSEnvironmentAction e\n{\n  HandshakeRole Server\n  TTLSKeyringParms\n  {\n    Keyring /k\n  }\n}\n";
    let loaded = crate::policy::load_str("t.pol", policy, Default::default());
    loaded.table.expect("policy loads").rules()[0].settings.clone()
}

fn used(role: Role, not_afters: &[SystemTime], settings: &Arc<Settings>) -> UsedCertificates {
    UsedCertificates {
        rules: vec!["r".into()],
        role,
        label: "srv".into(),
        source: PathBuf::from("/k/srv.pem"),
        chain: not_afters
            .iter()
            .enumerate()
            .map(|(i, &not_after)| CertificateDates { subject: format!("CN=c{i}"), not_after })
            .collect(),
        keyring_span: None,
        settings: Arc::downgrade(settings),
    }
}

#[test]
fn dates_come_from_the_certificate() {
    let d = CertificateDates::of_der(&cert_until("leaf", (2031, 5, 6))).expect("parses");
    assert_eq!(d.subject, "CN=leaf");
    assert_eq!(crate::netstat::rfc3339(d.not_after), "2031-05-06T00:00:00Z");
    assert_eq!(CertificateDates::of_der(&[0x30, 0x00]), None);
    assert_eq!(CertificateDates::of_der(&[]), None);
    assert_eq!(system_time(-5), UNIX_EPOCH - Duration::from_secs(5));
    assert_eq!(system_time(i64::MIN), UNIX_EPOCH - Duration::from_secs(i64::MIN.unsigned_abs()));
}

#[test]
fn an_expired_server_leaf_is_an_error_and_the_rest_warnings_within_the_days() {
    let now = UNIX_EPOCH + 20_000 * DAY;
    let s = settings();
    let list = vec![
        used(Role::Server, &[now - DAY, now - DAY, now + 4 * DAY + DAY / 2, now + 40 * DAY], &s),
        used(Role::Client, &[now - DAY, now + 29 * DAY], &s),
    ];
    let found = findings(&list, 30, now);
    let urgencies: Vec<(usize, usize, Urgency)> =
        found.iter().map(|f| (f.used, f.position, f.urgency)).collect();
    assert_eq!(
        urgencies,
        vec![
            (0, 0, Urgency::ExpiredServer),
            (0, 1, Urgency::Expired),
            (0, 2, Urgency::Soon(4)),
            (1, 0, Urgency::Expired),
            (1, 1, Urgency::Soon(29)),
        ]
    );
    let off: Vec<Urgency> = findings(&list, 0, now).iter().map(|f| f.urgency).collect();
    assert_eq!(off, vec![Urgency::ExpiredServer], "0 turns warnings off, not the error");
    let message = report::finding_message(&list, &found[0]);
    assert_eq!(message, "TTLSRule r: server certificate `srv` (CN=c0) expired at 2024-10-03T00:00:00Z");
    let message = report::finding_message(&list, &found[2]);
    assert!(
        message.ends_with(
            "certificate 2 of the chain of `srv` (CN=c2) expires in 4 days, at 2024-10-08T12:00:00Z"
        )
    );
    let soon = Finding { used: 1, position: 0, urgency: Urgency::Soon(0) };
    assert!(
        report::finding_message(&list, &soon)
            .contains("client certificate `srv` (CN=c0) expires within a day")
    );
}

#[test]
fn the_record_for_netstat_holds_server_leaves_while_their_settings_live() {
    let now = UNIX_EPOCH + 20_000 * DAY;
    let (server, client) = (settings(), settings());
    remember(&[used(Role::Server, &[now, now + DAY], &server), used(Role::Client, &[now], &client)]);
    assert_eq!(presented(&server).map(|d| d.not_after), Some(now));
    assert_eq!(presented(&client), None, "a client's own certificate is not what netstat shows");
    remember(&[used(Role::Server, &[now + DAY], &server)]);
    assert_eq!(presented(&server).map(|d| d.not_after), Some(now + DAY), "a refresh replaces the entry");
    let weak = Arc::downgrade(&server);
    drop(server);
    remember(&[]);
    let held = RECORDED.lock().unwrap_or_else(|e| e.into_inner());
    assert!(held.iter().all(|r| !r.settings.ptr_eq(&weak)), "gone settings leave the record");
}
