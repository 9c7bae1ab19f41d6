//! Rules selected by a Jobname alone. On Linux the job name is the command name of the process that
//! owns the socket (D7), which any local user chooses (`cp /usr/bin/curl ./PAYROLL`). A rule picked
//! that way that hands out something (the keyring's client certificate, role Client) or takes
//! protection away (`TTLSEnabled Off`) is only as strong as that name, so it is warned about; a
//! Userid condition (the socket's owner, which the kernel reports) settles it
//! (docs/security.md#jobname-can-be-forged).
//!
//! A plain warning, not a portability one: the rule means the same on z/OS and attls applies it as
//! written, so `--strict` leaves it a warning.

use super::super::ast::Statement;
use super::super::diag::Diagnostic;
use super::super::table::{Role, Rule};
use super::Resolver;

impl Resolver<'_, '_> {
    /// Warns when `rule` (built from `stmt`) is selected by a Jobname other than `*` with no Userid
    /// (or `Userid *`) and either exempts its connections or presents a client certificate.
    pub(super) fn forgeable_jobname_warning(&mut self, stmt: &Statement, rule: &Rule) {
        let Some(job) = rule.jobname.as_deref().filter(|j| *j != "*") else { return };
        if rule.userid.as_deref().is_some_and(|u| u != "*") {
            return;
        }
        let s = &rule.settings;
        let what = if !s.ttls_enabled {
            "exempts its connections from TLS (TTLSEnabled Off)"
        } else if s.handshake_role == Some(Role::Client) {
            "presents the keyring's client certificate to servers (HandshakeRole Client)"
        } else {
            return;
        };
        let span = stmt.param("Jobname").map_or(stmt.span(), |p| p.value_span);
        self.emit(Diagnostic::warning(
            span,
            format!(
                "TTLSRule {} is selected by Jobname {job} alone, which any local user can take, and {what}",
                rule.name
            ),
            format!(
                "on Linux the job name is the process's command name (`cp /usr/bin/curl ./{}`); \
                 add `Userid NAME` so that only that user's processes match",
                job.trim_end_matches('*')
            ),
        ));
    }
}
