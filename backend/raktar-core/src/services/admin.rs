//! Administration: user management (create, change role, disable, enable) and the audit log.
//!
//! Every action here needs an administrator; through a token it also needs an unrestricted token
//! (every scope, no crate limit). User changes are optimistic read-modify-writes on the user's
//! `revision`, committed in one transaction with their audit event.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Date;

use crate::domain::{DomainError, DomainResult, Login, Scope};
use crate::model::{AuditRecord, Role, UserRecord, keys};
use crate::store::{Query, SortKey, TxOp, Update};

use super::auth::{AuthCheck, Principal, require};
use super::retry::Attempts;
use super::tokens::user_revision_condition;
use super::{Registry, audit};

const MAX_ATTEMPTS: u32 = 8;
/// Widest day range one audit query may cover.
pub const MAX_AUDIT_DAYS: i64 = 366;
/// Most audit events one page returns.
pub const MAX_AUDIT_PER_PAGE: u32 = 200;

/// A position in the audit log: the day partition and an event's sort key. A page that starts
/// at a cursor returns the events strictly older than it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCursor {
    /// `YYYY-MM-DD`
    pub date: String,
    pub sk: String,
}

/// One audit event with its position.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub cursor: AuditCursor,
    pub record: AuditRecord,
}

/// One page of audit events, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditPage {
    pub events: Vec<AuditEntry>,
    /// Older events may follow in the range (exact within a day; at a day boundary it is true
    /// when older days remain, which may turn out empty).
    pub has_more: bool,
}

/// `YYYY-MM-DD`
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> DomainResult<Date> {
    let bad = || {
        DomainError::bad_request(format!(
            "invalid date `{}`: use YYYY-MM-DD",
            crate::domain::names::truncate_for_message(s)
        ))
    };
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else { return Err(bad()) };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 || !s.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Err(bad());
    }
    let year: i32 = y.parse().map_err(|_| bad())?;
    let month: u8 = m.parse().map_err(|_| bad())?;
    let day: u8 = d.parse().map_err(|_| bad())?;
    let month = time::Month::try_from(month).map_err(|_| bad())?;
    Date::from_calendar_date(year, month, day).map_err(|_| bad())
}

/// The admin check shared by every user-management action.
pub(crate) fn check_admin(principal: Option<&Principal>) -> DomainResult<&Principal> {
    let principal = require(principal)?;
    AuthCheck::scope(Scope::Read).admin_only().unrestricted_token().check(principal)?;
    Ok(principal)
}

impl Registry {
    /// Creates a user (administrators only).
    pub async fn admin_create_user(
        &self,
        principal: Option<&Principal>,
        login: &Login,
        name: Option<String>,
        email: Option<String>,
        role: Role,
    ) -> DomainResult<UserRecord> {
        let principal = check_admin(principal)?;
        if let Some(e) = &email
            && (e.len() > 254 || !e.contains('@') || e.chars().any(char::is_whitespace))
        {
            return Err(DomainError::bad_request("invalid e-mail address"));
        }
        self.create_user(principal.login(), login, name, email, role).await
    }

    /// Changes a user's role (administrators only; not their own).
    pub async fn set_user_role(
        &self,
        principal: Option<&Principal>,
        login: &Login,
        role: Role,
    ) -> DomainResult<UserRecord> {
        let principal = check_admin(principal)?;
        if principal.login() == login.as_str() && role != Role::Admin {
            return Err(DomainError::forbidden(
                "administrators may not remove their own admin role; ask another administrator",
            ));
        }
        self.change_user(principal, login, "user-role", |u| {
            if u.role == role {
                return None;
            }
            let mut detail = BTreeMap::new();
            detail.insert("previous_role".to_owned(), u.role.as_str().to_owned());
            detail.insert("role".to_owned(), role.as_str().to_owned());
            u.role = role;
            Some(detail)
        })
        .await
    }

    /// Disables (`true`) or re-enables a user (administrators only; not themselves): the one path
    /// for every edge (CLI, GraphQL). A disabled user's tokens stop working at once (the same
    /// transaction marks every token item of the user, which authentication reads with a strongly
    /// consistent read; cached principals are tied to the store's change marker), and their web
    /// sessions are deleted, so re-enabling the account does not bring them back.
    pub async fn set_user_disabled(
        &self,
        principal: Option<&Principal>,
        login: &Login,
        disabled: bool,
    ) -> DomainResult<UserRecord> {
        let principal = check_admin(principal)?;
        if principal.login() == login.as_str() && disabled {
            return Err(DomainError::forbidden("administrators may not disable their own account"));
        }
        let action = if disabled { "user-disable" } else { "user-enable" };
        let user = self
            .change_user(principal, login, action, |u| {
                if u.disabled == disabled {
                    return None;
                }
                u.disabled = disabled;
                Some(BTreeMap::new())
            })
            .await?;
        if disabled {
            // Also when the user was disabled already: a session opened concurrently with an
            // earlier disable must not survive into a later enable.
            self.revoke_user_sessions(principal.login(), login).await?;
        }
        Ok(user)
    }

    /// Optimistic read-modify-write of a user with its audit event in the same transaction, and
    /// the user's state on each of its token items when the role or disabled state changes
    /// ([`Registry::token_account_ops`]). `change` edits the record and returns the audit detail,
    /// or `None` when nothing changes.
    async fn change_user(
        &self,
        principal: &Principal,
        login: &Login,
        action: &str,
        change: impl Fn(&mut UserRecord) -> Option<BTreeMap<String, String>>,
    ) -> DomainResult<UserRecord> {
        let mut attempts = Attempts::new(MAX_ATTEMPTS);
        while attempts.next().await.is_some() {
            let Some(mut user) = self.get_user(login).await? else {
                return Err(DomainError::not_found(format!("no user with login `{login}`")));
            };
            let revision = user.revision;
            let before = user.clone();
            let Some(mut detail) = change(&mut user) else {
                return Ok(user);
            };
            detail.insert("user".to_owned(), login.as_str().to_owned());
            user.revision = revision + 1;
            let condition = user_revision_condition(revision);
            let update = Update::new()
                .set("role", user.role.as_str())
                .set("disabled", user.disabled)
                .set("revision", user.revision);
            let mut ops = vec![
                TxOp::Update { key: keys::user(login), update, condition: Some(condition) },
                audit::event(principal.login(), action, None, None, detail)?,
            ];
            ops.extend(self.token_account_ops(login, &before, &user, ops.len()).await?);
            match self.items.transact(ops).await {
                Ok(()) => {
                    tracing::info!(user = %login, action, by = %principal.login(), "user changed");
                    return Ok(user);
                }
                // The user changed meanwhile, or one of its tokens was revoked or created.
                Err(e) if e.is_condition_failure() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::conflict(format!("user `{login}` is being changed concurrently; please retry")))
    }

    /// Audit events between two days (inclusive), newest first (administrators through a session
    /// or an unrestricted token only), at most `limit` from `after` (exclusive); see
    /// [`Registry::audit_events_filtered`].
    pub async fn audit_events(
        &self,
        principal: Option<&Principal>,
        since: Date,
        until: Date,
        limit: u32,
        after: Option<AuditCursor>,
    ) -> DomainResult<AuditPage> {
        self.audit_events_filtered(principal, since, until, &AuditFilter::default(), limit, after).await
    }

    /// Audit events between two days (inclusive) that match `filter`, newest first
    /// (administrators through a session or an unrestricted token only), at most `limit` from
    /// `after` (exclusive). Each day is one partition, read newest first in chunks until the page
    /// is full: without a filter a page costs about one query per day in the range; a filter that
    /// matches rarely reads every event of the range.
    pub async fn audit_events_filtered(
        &self,
        principal: Option<&Principal>,
        since: Date,
        until: Date,
        filter: &AuditFilter,
        limit: u32,
        after: Option<AuditCursor>,
    ) -> DomainResult<AuditPage> {
        // Like user administration: a session or a token with every scope and no crate limit (an
        // administrator's `read` token does not open the audit log).
        let principal = require(principal)?;
        AuthCheck::scope(Scope::Read).admin_only().unrestricted_token().check(principal)?;
        if since > until {
            return Err(DomainError::bad_request("the audit range starts after it ends"));
        }
        if (until - since).whole_days() >= MAX_AUDIT_DAYS {
            return Err(DomainError::bad_request(format!("the audit range may cover at most {MAX_AUDIT_DAYS} days")));
        }
        let limit = limit.min(MAX_AUDIT_PER_PAGE) as usize;
        let (mut day, mut before) = match after {
            Some(c) => {
                let day = parse_date(&c.date).map_err(|_| DomainError::bad_request("invalid audit cursor"))?;
                if day < since || day > until {
                    return Err(DomainError::bad_request("the audit cursor is outside the requested range"));
                }
                (day, Some(c.sk))
            }
            None => (until, None),
        };
        let mut events = Vec::new();
        loop {
            let date = format_date(day);
            let mut store_cursor = None;
            let mut day_has_more = false;
            'day: loop {
                let want = limit - events.len();
                // One more than needed tells whether the day has more; the cursor's own event is skipped.
                let chunk = if filter.is_empty() { want + 2 } else { AUDIT_FILTER_CHUNK };
                let mut q = Query::partition(keys::audit_pk(&date))
                    .backward()
                    .limit(u32::try_from(chunk).unwrap_or(MAX_AUDIT_PER_PAGE + 2))
                    .cursor(store_cursor.take());
                if let Some(sk) = &before {
                    q = q.sort_key(SortKey::UpTo(sk.clone()));
                }
                let page = self.items.query(&q).await?;
                for item in &page.items {
                    let sk = item.get_str(crate::store::item::SK).unwrap_or_default().to_owned();
                    if before.as_deref() == Some(sk.as_str()) {
                        continue;
                    }
                    let record: AuditRecord = item.to_entity()?;
                    if !filter.matches(&record) {
                        continue;
                    }
                    if events.len() >= limit {
                        day_has_more = true;
                        break 'day;
                    }
                    events.push(AuditEntry { cursor: AuditCursor { date: date.clone(), sk }, record });
                }
                match page.cursor {
                    Some(c) if events.len() < limit || filter.is_empty() => {
                        if events.len() >= limit {
                            day_has_more = true;
                            break 'day;
                        }
                        store_cursor = Some(c);
                    }
                    Some(_) => {
                        day_has_more = true;
                        break 'day;
                    }
                    None => break 'day,
                }
            }
            before = None;
            let older_days = day > since;
            if events.len() >= limit {
                return Ok(AuditPage { events, has_more: day_has_more || older_days });
            }
            match day.previous_day() {
                Some(prev) if older_days => day = prev,
                _ => return Ok(AuditPage { events, has_more: false }),
            }
        }
    }
}

/// Events of one day read per store query when the audit log is filtered.
const AUDIT_FILTER_CHUNK: usize = 500;

/// Which audit events to return (every given condition must hold; exact matches).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The crate, in any spelling that normalizes to its name.
    pub crate_name: Option<crate::domain::NormalizedName>,
    /// Login of who did it (`cli`, `oidc` included).
    pub actor: Option<String>,
    /// The action (`publish`, `yank`, ...: [`AUDIT_ACTIONS`]).
    pub action: Option<String>,
}

impl AuditFilter {
    fn is_empty(&self) -> bool {
        self.crate_name.is_none() && self.actor.is_none() && self.action.is_none()
    }

    fn matches(&self, r: &AuditRecord) -> bool {
        self.crate_name.as_ref().is_none_or(|n| {
            r.crate_name.as_deref().is_some_and(|c| crate::domain::NormalizedName::from_stored(c) == *n)
        }) && self.actor.as_deref().is_none_or(|a| a == r.actor)
            && self.action.as_deref().is_none_or(|a| a == r.action)
    }
}

/// Every action the services write to the audit log.
pub const AUDIT_ACTIONS: &[&str] = &[
    "publish",
    "import",
    "yank",
    "unyank",
    "owner-add",
    "owner-remove",
    "token-create",
    "token-revoke",
    "user-create",
    "user-update",
    "user-role",
    "user-disable",
    "user-enable",
    "password-set",
    "password-change",
    "password-reset",
    "session-create",
    "session-revoke",
    "sessions-revoke",
    "identity-link",
    "identity-unlink",
    "trust-add",
    "trust-remove",
    "trustpub-token-create",
    "trustpub-token-revoke",
    "name-reserve",
    "name-release",
    "name-check-skipped",
    "upstream-fetch",
    "upstream-purge",
];

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn dates() {
        let d = parse_date("2026-02-28").unwrap();
        assert_eq!(format_date(d), "2026-02-28");
        assert!(parse_date("2026-02-30").is_err());
        assert!(parse_date("2026-2-3").is_err());
        assert!(parse_date("x").is_err());
        assert!(parse_date("+2026-02-03").is_err());
    }
}
