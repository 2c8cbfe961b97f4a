//! `AuditEvent` and its connection.

use async_graphql::SimpleObject;
use async_graphql::connection::{Connection, OpaqueCursor};
use raktar_core::model::AuditRecord;
use raktar_core::services::admin::AuditCursor;

use crate::types::scalars::DateTime;

/// One recorded change, written in the same transaction as the change itself.
#[derive(SimpleObject, Clone, Debug)]
pub struct AuditEvent {
    pub at: DateTime,
    /// Login of who did it (`cli` for the admin command line; `ci:{issuer host}:{subject}` for a
    /// CI job's trusted-publishing token).
    pub actor: String,
    /// `publish`, `yank`, `unyank`, `owner-add`, `owner-remove`, `token-create`, `token-revoke`,
    /// `user-create`, `user-role`, `user-disable`, `user-enable`, `trust-add`, `trust-remove`,
    /// `trustpub-token-create`, `trustpub-token-revoke`.
    pub action: String,
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

impl From<AuditRecord> for AuditEvent {
    fn from(r: AuditRecord) -> Self {
        Self {
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
