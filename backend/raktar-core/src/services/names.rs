//! The dependency-confusion guard: a private crate whose name also exists upstream is the classic
//! supply-chain attack surface (a build that should resolve the private crate resolves a public
//! one of the same name, or the other way round).
//!
//! - With an upstream configured, publishing a **new** crate name that exists in the upstream
//!   index is refused unless an administrator reserved the name for private use. The check asks
//!   for the exact lowercase spelling and its all-`-` and all-`_` variants (the upstream treats
//!   them as one name). When the upstream cannot be checked the configured policy decides
//!   ([`UncheckedNames`]; refusing is the default).
//! - The pull-through index never serves the upstream's file for a name that is private here
//!   (published or reserved): [`Registry::private_claim`].
//! - [`Registry::name_collisions`] lists the private crates whose names exist upstream.
//!
//! `raktar import` (an administrator's bulk action) is not guarded.

use std::collections::BTreeMap;

use crate::domain::{CrateName, DomainError, DomainResult, NormalizedName};
use crate::model::Entity as _;
use crate::model::{ReservedNameRecord, keys};
use crate::store::{Condition, Index, Query, TxOp, query_all};

use super::upstream::{UncheckedNames, UpstreamError};
use super::{Principal, Registry, audit, clock};

/// Whether a name is private here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivateClaim {
    /// No private crate and no reservation.
    None,
    /// A crate of this registry has the name.
    Published,
    /// An administrator reserved the name; no crate has it yet.
    Reserved(ReservedNameRecord),
}

/// A reserved name as the edges show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservedName {
    pub name: String,
    pub reserved_at: String,
    pub reserved_by: String,
    pub note: Option<String>,
    /// Whether a private crate has the name already.
    pub published: bool,
}

/// A private crate whose name exists upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCollision {
    /// The private crate's name.
    pub name: String,
    /// The upstream spelling(s) found.
    pub upstream_names: Vec<String>,
    /// Whether an administrator reserved the name (an accepted collision).
    pub reserved: bool,
}

/// Longest note of a reservation (bytes).
const MAX_NOTE_BYTES: usize = 500;

/// The spellings the upstream may hold for one name: as written (lowercase), all `-`, all `_`.
pub fn upstream_spellings(name: &CrateName) -> Vec<String> {
    let lower = name.as_str().to_ascii_lowercase();
    let mut out = vec![lower.replace('_', "-"), lower.replace('-', "_"), lower];
    out.sort();
    out.dedup();
    out
}

impl Registry {
    /// Whether `norm` is private here: the summary and the reservation in one query
    /// (`begins_with(sk, "CRATE")` in the crate's partition).
    pub async fn private_claim(&self, norm: &NormalizedName) -> DomainResult<PrivateClaim> {
        let q = Query::partition(keys::crate_pk(norm)).prefix(keys::CRATE_SK);
        let mut reserved = None;
        for item in query_all(self.items.as_ref(), &q).await? {
            match item.get_str(crate::store::item::SK) {
                Some(keys::CRATE_SK) => return Ok(PrivateClaim::Published),
                Some(keys::RESERVED_SK) => reserved = Some(item.to_entity::<ReservedNameRecord>()?),
                _ => {}
            }
        }
        Ok(reserved.map_or(PrivateClaim::None, PrivateClaim::Reserved))
    }

    /// The guard for a new crate name published with cargo: refused when the name exists upstream
    /// and is not reserved. Without an upstream there is nothing to check.
    pub(crate) async fn guard_new_name(&self, principal: &Principal, name: &CrateName) -> DomainResult<()> {
        let Some(upstream) = self.upstream.as_ref() else { return Ok(()) };
        if let PrivateClaim::Reserved(_) = self.private_claim(&name.normalized()).await? {
            return Ok(());
        }
        let mut failure: Option<UpstreamError> = None;
        for spelling in upstream_spellings(name) {
            match self.upstream_has(upstream, &spelling).await {
                Ok(true) => {
                    tracing::warn!(krate = %name, upstream_name = %spelling, publisher = %principal.login(), "refused a new crate whose name exists upstream (dependency-confusion guard)");
                    return Err(DomainError::forbidden(format!(
                        "crate name `{name}` exists in the upstream registry (as `{spelling}`); a private crate of that \
                         name could be confused with it. An administrator can reserve the name for private use \
                         (`raktar name reserve {name}`) if this is intended"
                    )));
                }
                Ok(false) => {}
                Err(e) => failure = Some(e),
            }
        }
        let Some(e) = failure else { return Ok(()) };
        match upstream.settings.unchecked_names {
            UncheckedNames::Refuse => Err(DomainError::upstream(format!(
                "cannot check whether crate name `{name}` exists in the upstream registry ({e}); new crate names are \
                 refused until it can be checked. Retry later, or ask an administrator to reserve the name"
            ))),
            UncheckedNames::Allow => {
                tracing::warn!(krate = %name, error = %e, "accepted a new crate name without checking the upstream (unchecked names allowed)");
                let mut detail = BTreeMap::new();
                detail.insert("error".to_owned(), e.to_string());
                self.items
                    .transact(vec![audit::event(
                        principal.login(),
                        "name-check-skipped",
                        Some(name.as_str()),
                        None,
                        detail,
                    )?])
                    .await?;
                Ok(())
            }
        }
    }

    /// Reserves a name for private use (administrators only).
    pub async fn admin_reserve_name(
        &self,
        principal: Option<&Principal>,
        name: &CrateName,
        note: Option<String>,
    ) -> DomainResult<ReservedName> {
        let principal = super::admin::check_admin(principal)?;
        self.reserve_name(principal.login(), name, note).await
    }

    /// Reserves a name for private use as `actor` (already authorized: the CLI).
    pub async fn reserve_name(
        &self,
        actor: &str,
        name: &CrateName,
        note: Option<String>,
    ) -> DomainResult<ReservedName> {
        let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if note.as_ref().is_some_and(|n| n.len() > MAX_NOTE_BYTES || n.chars().any(char::is_control)) {
            return Err(DomainError::bad_request(format!(
                "the note must be one line of at most {MAX_NOTE_BYTES} bytes"
            )));
        }
        let norm = name.normalized();
        let record = ReservedNameRecord {
            name: name.as_str().to_owned(),
            reserved_at: clock::now_string(),
            reserved_by: actor.to_owned(),
            note,
        };
        let item = record.item(&norm)?;
        let mut detail = BTreeMap::new();
        if let Some(note) = &record.note {
            detail.insert("note".to_owned(), note.clone());
        }
        let ops = vec![
            TxOp::Put { item, condition: Some(Condition::NotExists) },
            audit::event(actor, "name-reserve", Some(name.as_str()), None, detail)?,
        ];
        match self.items.transact(ops).await {
            Ok(()) => {}
            Err(e) if e.failed_condition_at(0) => {
                return Err(DomainError::conflict(format!("crate name `{name}` is already reserved")));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(actor, krate = %name, "reserved a crate name for private use");
        let published = matches!(self.private_claim(&norm).await?, PrivateClaim::Published);
        Ok(view(record, published))
    }

    /// Releases a reservation (administrators only).
    pub async fn admin_release_name(&self, principal: Option<&Principal>, name: &CrateName) -> DomainResult<()> {
        let principal = super::admin::check_admin(principal)?;
        self.release_name(principal.login(), name).await
    }

    /// Releases a reservation as `actor` (the CLI). A published private crate keeps its name.
    pub async fn release_name(&self, actor: &str, name: &CrateName) -> DomainResult<()> {
        let ops = vec![
            TxOp::Delete { key: keys::reserved_name(&name.normalized()), condition: Some(Condition::Exists) },
            audit::event(actor, "name-release", Some(name.as_str()), None, BTreeMap::new())?,
        ];
        match self.items.transact(ops).await {
            Ok(()) => {
                tracing::info!(actor, krate = %name, "released a reserved crate name");
                Ok(())
            }
            Err(e) if e.failed_condition_at(0) => {
                Err(DomainError::not_found(format!("crate name `{name}` is not reserved")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Every reserved name (administrators only).
    pub async fn admin_reserved_names(&self, principal: Option<&Principal>) -> DomainResult<Vec<ReservedName>> {
        super::admin::check_admin(principal)?;
        self.reserved_names().await
    }

    /// Every reserved name, sorted (the CLI).
    pub async fn reserved_names(&self) -> DomainResult<Vec<ReservedName>> {
        let q = Query::on_index(Index::Listing, keys::RESERVED_NAMES_PK);
        let mut out = Vec::new();
        for item in query_all(self.items.as_ref(), &q).await? {
            let record: ReservedNameRecord = item.to_entity()?;
            let published = self
                .items
                .get_relaxed(&keys::crate_summary(&NormalizedName::from_stored(&record.name)))
                .await?
                .is_some();
            out.push(view(record, published));
        }
        out.sort_by_key(|a| a.name.to_ascii_lowercase());
        Ok(out)
    }

    /// The private crates whose names exist upstream (administrators only).
    pub async fn admin_name_collisions(&self, principal: Option<&Principal>) -> DomainResult<Vec<NameCollision>> {
        super::admin::check_admin(principal)?;
        self.name_collisions().await
    }

    /// The private crates whose names exist upstream, checked against the upstream (cache first),
    /// a few at a time. Fails when the upstream cannot be reached.
    pub async fn name_collisions(&self) -> DomainResult<Vec<NameCollision>> {
        use futures::{StreamExt, TryStreamExt};
        let upstream = self.upstream.as_ref().ok_or_else(|| {
            DomainError::bad_request(
                "no upstream registry is configured (`--upstream-sparse`): nothing to compare with",
            )
        })?;
        let names: Vec<String> = self.catalog_records().await?.iter().map(|r| r.name.clone()).collect();
        let reserved: std::collections::HashSet<String> = self
            .reserved_names()
            .await?
            .into_iter()
            .map(|r| NormalizedName::from_stored(&r.name).as_str().to_owned())
            .collect();
        let checks = futures::stream::iter(names.into_iter().map(|name| async move {
            let mut found = Vec::new();
            let parsed = CrateName::parse(&name)?;
            for spelling in upstream_spellings(&parsed) {
                if self.upstream_has(upstream, &spelling).await.map_err(|e| DomainError::upstream(e.to_string()))? {
                    found.push(spelling);
                }
            }
            Ok::<_, DomainError>((name, found))
        }))
        .buffer_unordered(8)
        .try_collect::<Vec<_>>()
        .await?;
        let mut out: Vec<NameCollision> = checks
            .into_iter()
            .filter(|(_, found)| !found.is_empty())
            .map(|(name, upstream_names)| NameCollision {
                reserved: reserved.contains(NormalizedName::from_stored(&name).as_str()),
                name,
                upstream_names,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}

fn view(record: ReservedNameRecord, published: bool) -> ReservedName {
    ReservedName {
        name: record.name,
        reserved_at: record.reserved_at,
        reserved_by: record.reserved_by,
        note: record.note,
        published,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spellings() {
        let n = CrateName::parse("Foo_bar-baz").unwrap();
        assert_eq!(upstream_spellings(&n), vec!["foo-bar-baz", "foo_bar-baz", "foo_bar_baz"]);
        let n = CrateName::parse("serde").unwrap();
        assert_eq!(upstream_spellings(&n), vec!["serde"]);
    }
}
