use std::os::unix::fs::PermissionsExt;

use super::*;

fn env(n: u8) -> EnvId {
    EnvId([n; 32])
}

fn key_file(dir: &std::path::Path, lines: &str) -> std::path::PathBuf {
    let path = dir.join("ticket-keys");
    std::fs::write(&path, lines).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn sealed_tickets_open_once_and_carry_nothing_in_clear() {
    let t = Ticketer::own(Duration::from_secs(60), Duration::from_secs(300));
    let ticket = t.encrypt(b"session state").unwrap();
    assert!(!ticket.windows(7).any(|w| w == b"session"), "plain text in the ticket");
    assert_eq!(t.decrypt(&ticket).as_deref(), Some(&b"session state"[..]));
    let mut tampered = ticket.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(t.decrypt(&tampered), None);
    assert_eq!(t.decrypt(&ticket[..20]), None);
    let other = Ticketer::own(Duration::from_secs(60), Duration::from_secs(300));
    assert_eq!(other.decrypt(&ticket), None, "another ticketer's keys differ");
    assert_eq!(t.lifetime(), 60);
}

#[test]
fn too_old_tickets_are_refused_and_counted() {
    let t = Ticketer::own(Duration::from_secs(1), Duration::from_secs(300));
    let ticket = t.encrypt(b"s").unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(t.decrypt(&ticket), None);
    assert_eq!(t.expired(), 1);
}

#[test]
fn own_keys_rotate_and_old_ones_open_until_their_tickets_expire() {
    let t = Ticketer::own(Duration::from_secs(60), Duration::from_secs(1));
    let first = t.encrypt(b"one").unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let second = t.encrypt(b"two").unwrap();
    assert_ne!(first[..ID_LEN], second[..ID_LEN], "a new key after the refresh interval");
    assert_eq!(t.decrypt(&first).as_deref(), Some(&b"one"[..]));
    assert_eq!(t.decrypt(&second).as_deref(), Some(&b"two"[..]));
}

#[test]
fn shared_keys_open_across_agents_of_one_environment_only() {
    let dir = std::env::temp_dir().join(format!("attls-ticketer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let old = "11".repeat(32);
    let path = key_file(&dir, &format!("{old}\n"));
    let agent_a = Arc::new(TicketKeys::load(&path).unwrap());
    let agent_b = Arc::new(TicketKeys::load(&path).unwrap());
    let a = Ticketer::shared(Duration::from_secs(60), agent_a.clone(), env(1));
    let b = Ticketer::shared(Duration::from_secs(60), agent_b.clone(), env(1));
    let other_env = Ticketer::shared(Duration::from_secs(60), agent_b.clone(), env(2));
    let ticket = a.encrypt(b"fleet").unwrap();
    assert_eq!(b.decrypt(&ticket).as_deref(), Some(&b"fleet"[..]));
    assert_eq!(other_env.decrypt(&ticket), None, "another environment's key differs");
    // Rotation: a new key first, the old one still opens.
    key_file(&dir, &format!("{}\n{old}\n", "22".repeat(32)));
    agent_b.reload().unwrap();
    let newer = b.encrypt(b"new").unwrap();
    assert_ne!(newer[..ID_LEN], ticket[..ID_LEN]);
    assert_eq!(b.decrypt(&ticket).as_deref(), Some(&b"fleet"[..]));
    assert_eq!(a.decrypt(&newer), None, "agent A has not read the new key yet");
    agent_a.reload().unwrap();
    assert_eq!(a.decrypt(&newer).as_deref(), Some(&b"new"[..]));
    std::fs::remove_dir_all(&dir).unwrap();
}
