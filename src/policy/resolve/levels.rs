//! The blocks of one (group, environment, connection) combination, found through inline blocks or
//! references, and how a parameter is looked up across them (connection level first).

use super::super::ast::{ParamItem, Statement};

/// The blocks of one combination, found through inline blocks or references.
pub(super) struct Levels<'s> {
    pub group: &'s Statement,
    pub group_adv: Option<&'s Statement>,
    pub env: Option<&'s Statement>,
    pub env_adv: Option<&'s Statement>,
    pub env_cipher: Option<&'s Statement>,
    pub env_sig: Option<&'s Statement>,
    pub keyring: Option<&'s Statement>,
    pub gsk: Option<&'s Statement>,
    pub conn: Option<&'s Statement>,
    pub conn_adv: Option<&'s Statement>,
    pub conn_cipher: Option<&'s Statement>,
    pub conn_sig: Option<&'s Statement>,
}

impl<'s> Levels<'s> {
    /// An advanced parameter: connection level, else environment level.
    pub fn adv(&self, name: &str) -> Option<&'s ParamItem> {
        self.conn_adv.and_then(|b| b.param(name)).or_else(|| self.env_adv.and_then(|b| b.param(name)))
    }
    /// A multi-valued advanced parameter: every line of the level that writes it.
    pub(super) fn all_adv(&self, name: &str) -> Vec<&'s ParamItem> {
        let from = |b: Option<&'s Statement>| {
            b.map(|b| b.params().filter(|p| p.def.name == name).collect::<Vec<_>>()).unwrap_or_default()
        };
        let conn = from(self.conn_adv);
        if conn.is_empty() { from(self.env_adv) } else { conn }
    }
    /// A parameter of the actions themselves (Trace, CtraceClearText): connection, environment, group.
    pub(super) fn action_param(&self, name: &str) -> Option<&'s ParamItem> {
        [self.conn, self.env, Some(self.group)].into_iter().flatten().find_map(|b| b.param(name))
    }
}
