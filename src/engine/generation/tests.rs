//! Tests of `generation`.

use super::*;

fn policy(rules: &[(&str, u16)]) -> String {
    let mut s = String::from("TTLSGroupAction gOff\n{\n  TTLSEnabled Off\n}\n");
    for (name, port) in rules {
        s.push_str(&format!(
            "TTLSRule {name}\n{{\n  LocalPortRange {port}\n  Direction Inbound\n  TTLSGroupActionRef gOff\n}}\n"
        ));
    }
    s
}

fn setup(flush: &str) -> (std::path::PathBuf, Config) {
    setup_as(flush, flush)
}

fn setup_as(tag: &str, flush: &str) -> (std::path::PathBuf, Config) {
    let dir = std::env::temp_dir().join(format!("attls-gen-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("p.pol"), policy(&[("A", 1), ("B", 2)])).unwrap();
    std::fs::write(dir.join("pagent.conf"), format!("TTLSConfig p.pol {flush} NOPURGE\n")).unwrap();
    let config = crate::config::load(&dir.join("pagent.conf")).unwrap();
    (dir, config)
}

fn rules(g: &Generation) -> Vec<(String, u16)> {
    g.table.rules().iter().map(|r| (r.name.clone(), r.local_port.entries[0].lo)).collect()
}

#[test]
fn noflush_keeps_objects_deleted_from_the_files_and_flush_drops_them() {
    for (flush, want) in
        [("NOFLUSH", vec![("A".to_string(), 3), ("B".to_string(), 2)]), ("FLUSH", vec![("A".to_string(), 3)])]
    {
        let (dir, config) = setup(flush);
        let g1 = Generation::load(&config, 1, None).unwrap();
        assert_eq!(rules(&g1).len(), 2);
        // B deleted, A changed.
        std::fs::write(dir.join("p.pol"), policy(&[("A", 3)])).unwrap();
        let g2 = Generation::load(&config, 2, Some(&g1)).unwrap();
        let mut got = rules(&g2);
        got.sort();
        assert_eq!(got, want, "{flush}");
        assert!(g2.warnings.is_empty(), "{flush}: {}", g2.warnings);
        // An unchanged file adds nothing to the carry.
        let g3 = Generation::load(&config, 3, Some(&g2)).unwrap();
        assert_eq!(g3.texts.len(), g2.texts.len(), "{flush}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn noflush_carry_stays_bounded_over_many_refreshes_and_keeps_deleted_objects() {
    let (dir, config) = setup_as("many", "NOFLUSH");
    let write = |rules: &[(&str, u16)]| std::fs::write(dir.join("p.pol"), policy(rules)).unwrap();
    let mut g = Generation::load(&config, 1, None).unwrap();
    // B deleted, then A changed again and again.
    for k in 0..40u16 {
        write(&[("A", 100 + k)]);
        g = Generation::load(&config, u64::from(k) + 2, Some(&g)).unwrap();
        assert!(g.texts.len() <= 2, "refresh {k}: {} texts carried", g.texts.len());
    }
    let mut got = rules(&g);
    got.sort();
    assert_eq!(got, vec![("A".to_string(), 139), ("B".to_string(), 2)]);
    // The carried text keeps B (its latest definition) but not A's stale one, on its own line.
    let (_, carried) = &g.texts[0];
    assert!(carried.contains("TTLSRule B") && !carried.contains("TTLSRule A"), "{carried}");
    assert_eq!(carried.lines().count(), policy(&[("A", 1), ("B", 2)]).lines().count());
    // B written again then deleted with C: their latest definitions are kept, nothing older.
    write(&[("A", 1), ("B", 7), ("C", 8)]);
    g = Generation::load(&config, 100, Some(&g)).unwrap();
    write(&[("A", 1)]);
    g = Generation::load(&config, 101, Some(&g)).unwrap();
    let mut got = rules(&g);
    got.sort();
    let want = [("A", 1), ("B", 7), ("C", 8)].map(|(n, p)| (n.to_string(), p));
    assert_eq!(got, want.to_vec());
    assert_eq!(g.texts.len(), 2, "{:?}", g.texts);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_candidate_is_what_a_refresh_would_load_and_leaves_the_running_ticket_keys_alone() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, mut config) = setup_as("candidate", "NOFLUSH");
    let keys = dir.join("tickets.keys");
    let write_keys = |hex: &str| {
        std::fs::write(&keys, format!("{hex}\n")).unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    write_keys(&"11".repeat(32));
    config.ticket_key_file = Some(keys.clone());
    let running = Generation::load(&config, 1, None).unwrap();
    let version = running.ticket_keys.as_ref().unwrap().current().version;
    // B deleted (NOFLUSH carries it), A changed, new ticket keys written.
    std::fs::write(dir.join("p.pol"), policy(&[("A", 3)])).unwrap();
    write_keys(&"22".repeat(32));
    let candidate = Generation::candidate(&config, &running).unwrap();
    let mut got = rules(&candidate);
    got.sort();
    assert_eq!(got, [("A".to_string(), 3), ("B".to_string(), 2)]);
    assert_eq!(candidate.id, 1, "no generation number is used up");
    assert_eq!(running.ticket_keys.as_ref().unwrap().current().version, version, "keys in use unchanged");
    // An invalid ticket key file is a warning, as at a refresh; the keys in use still stay.
    std::fs::write(&keys, "not hex\n").unwrap();
    let candidate = Generation::candidate(&config, &running).unwrap();
    assert!(candidate.warnings.contains("the ticket keys read before stay in use"), "{}", candidate.warnings);
    // A refresh does swap the keys in.
    write_keys(&"22".repeat(32));
    let next = Generation::load(&config, 2, Some(&running)).unwrap();
    assert!(next.ticket_keys.as_ref().unwrap().current().version > version);
    std::fs::remove_dir_all(&dir).unwrap();
}
