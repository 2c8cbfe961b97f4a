//! The audit log (administrators).

use async_graphql::connection::{Connection, CursorType, Edge, OpaqueCursor};
use async_graphql::{Context, Object};
use raktar_core::domain::{CrateName, DomainError};
use raktar_core::services::admin::{AuditCursor, AuditFilter, MAX_AUDIT_PER_PAGE};
use raktar_core::services::clock;

use crate::context::env;
use crate::error::Res;
use crate::limits::LIST_ITEM_BYTES;
use crate::types::audit::{AuditAction, AuditEvent, AuditEventConnection};
use crate::types::krate::page_cost;
use crate::types::scalars::Date;

/// Default range of the audit log: the last 30 days.
const DEFAULT_DAYS: i64 = 30;

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Audit events between two UTC days (inclusive; default: the last 30 days), newest first
    /// (administrators only). The range covers at most 366 days. `crate` (any spelling), `actor`
    /// (a login, `cli` or `oidc`) and `action` keep the matching events only.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "crate")] krate: Option<String>,
        actor: Option<String>,
        action: Option<AuditAction>,
        since: Option<Date>,
        until: Option<Date>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Res<AuditEventConnection> {
        let max = i32::try_from(MAX_AUDIT_PER_PAGE).unwrap_or(i32::MAX);
        if !(0..=max).contains(&first) {
            return Err(DomainError::bad_request(format!("`first` must be between 0 and {max}")).into());
        }
        let until = until.map_or_else(|| clock::now().date(), |d| d.0);
        let since = since.map_or_else(|| until - time::Duration::days(DEFAULT_DAYS - 1), |d| d.0);
        let after = match after {
            Some(c) => Some(
                OpaqueCursor::<AuditCursor>::decode_cursor(&c)
                    .map_err(|_| DomainError::bad_request("invalid cursor `after`"))?
                    .0,
            ),
            None => None,
        };
        let filter = AuditFilter {
            crate_name: match krate {
                Some(k) => Some(CrateName::parse(&k)?.normalized()),
                None => None,
            },
            actor: match actor {
                Some(a) if a.len() > 64 => return Err(DomainError::bad_request("`actor` is at most 64 bytes").into()),
                a => a,
            },
            action: action.map(|a| a.as_str().to_owned()),
        };
        let env = env(ctx)?;
        let has_previous = after.is_some();
        let page = env
            .registry
            .audit_events_filtered(env.caller, since, until, &filter, u32::try_from(first).unwrap_or(0), after)
            .await?;
        let bytes = page.events.iter().fold(0usize, |n, e| {
            let detail: usize = e.record.detail.iter().map(|(k, v)| k.len() + v.len() + LIST_ITEM_BYTES / 2).sum();
            n.saturating_add(LIST_ITEM_BYTES).saturating_add(detail)
        });
        env.charge(bytes)?;
        let mut conn = Connection::new(has_previous, page.has_more);
        conn.edges
            .extend(page.events.into_iter().map(|e| Edge::new(OpaqueCursor(e.cursor.clone()), AuditEvent::from(e))));
        Ok(conn)
    }
}
