//! `AuditEvent` and its connection.

use async_graphql::connection::{Connection, OpaqueCursor};
use async_graphql::{Enum, ID, SimpleObject};
use raktar_core::services::admin::{AuditCursor, AuditEntry};

use crate::types::scalars::DateTime;

/// One recorded change, written in the same transaction as the change itself.
#[derive(SimpleObject, Clone, Debug)]
pub struct AuditEvent {
    /// Stable, opaque identity of the event.
    pub id: ID,
    pub at: DateTime,
    /// Login of who did it (`cli` for the admin command line; `ci:{issuer host}:{subject}` for a
    /// CI job's trusted-publishing token).
    pub actor: String,
    /// What was done, as written in the log (`publish`, `owner-add`, ...); `kind` is the same as
    /// an enum.
    pub action: String,
    /// The action as an enum; null for an action this version of the schema does not know.
    pub kind: Option<AuditAction>,
    pub crate_name: Option<String>,
    pub version: Option<String>,
    /// Action-specific details (sorted by key).
    pub detail: Vec<AuditDetail>,
}

/// One key/value detail of an audit event.
#[derive(SimpleObject, Clone, Debug)]
pub struct AuditDetail {
    pub key: String,
    pub value: String,
}

impl From<AuditEntry> for AuditEvent {
    fn from(e: AuditEntry) -> Self {
        let r = e.record;
        Self {
            id: ID(format!("audit:{}/{}", e.cursor.date, e.cursor.sk)),
            kind: AuditAction::parse(&r.action),
            at: DateTime(r.at),
            actor: r.actor,
            action: r.action,
            crate_name: r.crate_name,
            version: r.version,
            detail: r.detail.into_iter().map(|(key, value)| AuditDetail { key, value }).collect(),
        }
    }
}

/// Audit events, newest first (Relay cursor connection).
pub type AuditEventConnection = Connection<OpaqueCursor<AuditCursor>, AuditEvent>;

/// Every action written to the audit log.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum AuditAction {
    /// `publish`: a version published by cargo.
    Publish,
    /// `import`: a version brought in by `raktar import`.
    Import,
    Yank,
    Unyank,
    /// `owner-add`
    OwnerAdd,
    /// `owner-remove`
    OwnerRemove,
    /// `token-create`
    TokenCreate,
    /// `token-revoke`
    TokenRevoke,
    /// `user-create`
    UserCreate,
    /// `user-update`: profile details taken from single sign-on.
    UserUpdate,
    /// `user-role`
    UserRole,
    /// `user-disable`
    UserDisable,
    /// `user-enable`
    UserEnable,
    /// `password-set`: a password set from the command line.
    PasswordSet,
    /// `password-change`: a user changed their own password.
    PasswordChange,
    /// `password-reset`: an administrator reset a user's password.
    PasswordReset,
    /// `session-create`: a web sign-in.
    SessionCreate,
    /// `session-revoke`: one web session ended by its user.
    SessionRevoke,
    /// `sessions-revoke`: every web session of a user ended.
    SessionsRevoke,
    /// `identity-link`
    IdentityLink,
    /// `identity-unlink`
    IdentityUnlink,
    /// `trust-add`: a CI identity allowed to publish a crate (trusted publishing).
    TrustAdd,
    /// `trust-remove`
    TrustRemove,
    /// `trustpub-token-create`: a CI job exchanged its ID token for a short-lived token.
    TrustpubTokenCreate,
    /// `trustpub-token-revoke`
    TrustpubTokenRevoke,
    /// `name-reserve`: a crate name reserved for private use (dependency-confusion guard).
    NameReserve,
    /// `name-release`
    NameRelease,
    /// `name-check-skipped`: a new crate name accepted while the upstream could not be checked
    /// (only with unchecked names allowed).
    NameCheckSkipped,
    /// `upstream-fetch`: the pull-through cache fetched, verified and stored an upstream `.crate`.
    UpstreamFetch,
    /// `upstream-purge`: cached upstream files removed by an administrator.
    UpstreamPurge,
}

impl AuditAction {
    /// Every action with its name in the log.
    pub const ALL: &[(AuditAction, &'static str)] = &[
        (AuditAction::Publish, "publish"),
        (AuditAction::Import, "import"),
        (AuditAction::Yank, "yank"),
        (AuditAction::Unyank, "unyank"),
        (AuditAction::OwnerAdd, "owner-add"),
        (AuditAction::OwnerRemove, "owner-remove"),
        (AuditAction::TokenCreate, "token-create"),
        (AuditAction::TokenRevoke, "token-revoke"),
        (AuditAction::UserCreate, "user-create"),
        (AuditAction::UserUpdate, "user-update"),
        (AuditAction::UserRole, "user-role"),
        (AuditAction::UserDisable, "user-disable"),
        (AuditAction::UserEnable, "user-enable"),
        (AuditAction::PasswordSet, "password-set"),
        (AuditAction::PasswordChange, "password-change"),
        (AuditAction::PasswordReset, "password-reset"),
        (AuditAction::SessionCreate, "session-create"),
        (AuditAction::SessionRevoke, "session-revoke"),
        (AuditAction::SessionsRevoke, "sessions-revoke"),
        (AuditAction::IdentityLink, "identity-link"),
        (AuditAction::IdentityUnlink, "identity-unlink"),
        (AuditAction::TrustAdd, "trust-add"),
        (AuditAction::TrustRemove, "trust-remove"),
        (AuditAction::TrustpubTokenCreate, "trustpub-token-create"),
        (AuditAction::TrustpubTokenRevoke, "trustpub-token-revoke"),
        (AuditAction::NameReserve, "name-reserve"),
        (AuditAction::NameRelease, "name-release"),
        (AuditAction::NameCheckSkipped, "name-check-skipped"),
        (AuditAction::UpstreamFetch, "upstream-fetch"),
        (AuditAction::UpstreamPurge, "upstream-purge"),
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(a, _)| *a)
    }

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(a, _)| *a == self).map_or("", |(_, n)| n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_enum_lists_every_action_the_services_write() {
        let ours: Vec<&str> = AuditAction::ALL.iter().map(|(_, n)| *n).collect();
        assert_eq!(ours, raktar_core::services::admin::AUDIT_ACTIONS);
        for (a, n) in AuditAction::ALL {
            assert_eq!(AuditAction::parse(n), Some(*a));
            assert_eq!(a.as_str(), *n);
        }
    }
}
