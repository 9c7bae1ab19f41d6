//! Who may use the control socket: SO_PEERCRED of the requester, root or a member of ControlGroup
//! (primary group, or listed in /etc/group).

use tokio::net::unix::UCred;

/// Root, or a member of `group`.
pub fn may_administer(cred: Option<UCred>, group: Option<&str>) -> bool {
    let Some(cred) = cred else { return false };
    if cred.uid() == 0 {
        return true;
    }
    let Some(group) = group else { return false };
    let Some(gid) = group_id(group) else { return false };
    cred.gid() == gid
        || crate::procnet::user_name(cred.uid()).is_some_and(|u| group_members(group).contains(&u))
}

fn etc(file: &str) -> String {
    std::fs::read_to_string(file).unwrap_or_default()
}

/// The gid of a group name, from /etc/group.
pub fn group_id(name: &str) -> Option<u32> {
    etc("/etc/group").lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 3 && f[0] == name).then(|| f[2].parse().ok()).flatten()
    })
}

fn group_members(name: &str) -> Vec<String> {
    etc("/etc/group")
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[0] == name)
                .then(|| f[3].split(',').filter(|m| !m.is_empty()).map(String::from).collect())
        })
        .unwrap_or_default()
}
