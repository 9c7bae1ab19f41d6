//! The written parameters a rule carries for reports: per action level, and those without a column
//! of their own in [`Settings`](super::super::table::Settings) (its `other`).

use super::super::ast::{Item, Statement};
use super::super::catalog::{Kind, ValueType};
use super::levels::Levels;

/// Parameters that have a column of their own in reports; everything else written lands in `other`.
const CONSUMED: &[&str] = &[
    "TTLSEnabled",
    "Trace",
    "CtraceClearText",
    "SyslogFacility",
    "HandshakeRole",
    "ClientAuthType",
    "Keyring",
    "KeyringPw",
    "KeyringStashFile",
    "CertificateLabel",
    "SSLv2",
    "SSLv3",
    "TLSv1",
    "TLSv1.1",
    "TLSv1.2",
    "TLSv1.3",
    "V3CipherSuites",
    "V3CipherSuites4Char",
    "ApplicationControlled",
    "SecondaryMap",
    "HandshakeTimeout",
    "ResetCipherTimer",
    "ClientHandshakeSNI",
    "ClientHandshakeSNIList",
    "HostReferenceIdDNS",
    "ClientECurves",
    "ClientKeyShareGroups",
    "ServerKexECurves",
    "ServerKeyShareGroups",
    "GSK_V3_SESSION_TIMEOUT",
    "GSK_V3_SIDCACHE_SIZE",
    "GSK_SESSION_TICKET_SERVER_ENABLE",
    "GSK_SESSION_TICKET_SERVER_COUNT",
    "GSK_SESSION_TICKET_SERVER_TIMEOUT",
    "GSK_SESSION_TICKET_SERVER_KEY_REFRESH",
    "GSK_SESSION_TICKET_CLIENT_ENABLE",
];

/// The parameters written in these blocks (and the GSK children of a TTLSGskAdvancedParms), in
/// order; references and `KeyringPw` left out.
pub(super) fn written(blocks: &[Option<&Statement>]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<&Statement> = blocks.iter().rev().flatten().copied().collect();
    while let Some(b) = stack.pop() {
        for item in &b.items {
            match item {
                Item::Param(p) if matches!(p.def.ty, ValueType::Ref(_)) || p.def.name == "KeyringPw" => {}
                Item::Param(p) => out.push((p.def.name.to_string(), p.raw.clone())),
                Item::Block(c)
                    if matches!(c.kind, Kind::GskLdapParms | Kind::GskOcspParms | Kind::GskHttpCdpParms) =>
                {
                    stack.push(c)
                }
                Item::Block(_) => {}
            }
        }
    }
    out
}

/// Every written parameter without a column of its own (connection level wins), sorted by keyword.
pub(super) fn other_params(lv: &Levels<'_>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let blocks = [
        lv.conn,
        lv.conn_adv,
        lv.conn_cipher,
        lv.conn_sig,
        lv.env,
        lv.env_adv,
        lv.env_cipher,
        lv.env_sig,
        lv.gsk,
        Some(lv.group),
        lv.group_adv,
    ];
    let mut seen_blocks: Vec<*const Statement> = Vec::new();
    for b in blocks.into_iter().flatten() {
        if seen_blocks.contains(&(b as *const _)) {
            continue;
        }
        seen_blocks.push(b);
        let mut stack = vec![b];
        while let Some(s) = stack.pop() {
            let mut own: Vec<(String, String)> = Vec::new();
            for item in &s.items {
                match item {
                    Item::Param(p)
                        if CONSUMED.contains(&p.def.name) || matches!(p.def.ty, ValueType::Ref(_)) => {}
                    Item::Param(p) => match own.iter_mut().find(|(k, _)| k == p.def.name) {
                        Some((_, v)) => {
                            v.push(' ');
                            v.push_str(&p.raw);
                        }
                        None => own.push((p.def.name.to_string(), p.raw.clone())),
                    },
                    // GSK children (LDAP, OCSP, HTTP CDP) are shown too; the other inline blocks are
                    // levels of their own and are in `blocks`.
                    Item::Block(child)
                        if matches!(
                            child.kind,
                            Kind::GskLdapParms | Kind::GskOcspParms | Kind::GskHttpCdpParms
                        ) =>
                    {
                        stack.push(child)
                    }
                    Item::Block(_) => {}
                }
            }
            for (k, v) in own {
                if !out.iter().any(|(o, _)| *o == k) {
                    out.push((k, v));
                }
            }
        }
    }
    out.sort();
    out
}
