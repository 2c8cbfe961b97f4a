//! Read views for the API (GraphQL): crate summaries, versions, owners, READMEs, download
//! statistics, the user directory and the crates of a user. Every method checks read access
//! (`check_read`) itself, so an edge cannot forget it; search and reverse dependencies live in
//! `search.rs` (they read the in-memory catalog).

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::domain::{DomainError, DomainResult, Login, NormalizedName};
use crate::model::{CrateRecord, OwnerRecord, UserRecord, VersionRecord, keys};
use crate::store::{Index, Query, SortKey, query_all};

use super::{Principal, Registry, clock};

/// Most users one directory page returns.
pub const MAX_USERS_PER_PAGE: u32 = 100;
/// Largest README returned (a spilled README is bounded by the publish metadata limit already).
const MAX_README_BYTES: usize = 4 * 1024 * 1024;

/// Download statistics of one crate, from its daily counter items (one partition query).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownloadStats {
    pub total: u64,
    /// Exact version string -> downloads.
    pub per_version: BTreeMap<String, u64>,
    /// `YYYY-MM-DD` -> downloads (days without downloads are absent).
    pub per_day: BTreeMap<String, u64>,
    /// Exact version string -> `YYYY-MM-DD` -> downloads (days without downloads are absent).
    pub per_version_day: BTreeMap<String, BTreeMap<String, u64>>,
}

impl DownloadStats {
    /// Downloads of one exact version.
    pub fn of_version(&self, vers: &str) -> u64 {
        self.per_version.get(vers).copied().unwrap_or(0)
    }

    /// One entry per day for the `days` days ending with `today` (oldest first), zero-filled.
    pub fn last_days(&self, days: u32, today: OffsetDateTime) -> Vec<(String, u64)> {
        Self::series(&self.per_day, days, today)
    }

    /// Like [`Self::last_days`], for one exact version.
    pub fn last_days_of_version(&self, vers: &str, days: u32, today: OffsetDateTime) -> Vec<(String, u64)> {
        static EMPTY: BTreeMap<String, u64> = BTreeMap::new();
        Self::series(self.per_version_day.get(vers).unwrap_or(&EMPTY), days, today)
    }

    fn series(per_day: &BTreeMap<String, u64>, days: u32, today: OffsetDateTime) -> Vec<(String, u64)> {
        (0..i64::from(days))
            .rev()
            .map(|back| {
                let date = clock::date(today - time::Duration::days(back));
                let n = per_day.get(&date).copied().unwrap_or(0);
                (date, n)
            })
            .collect()
    }
}

/// One page of the user directory.
#[derive(Debug, Clone, Default)]
pub struct UserPage {
    pub users: Vec<UserRecord>,
    /// More users follow the last one.
    pub has_more: bool,
}

/// Whether the caller may see a user's private details (e-mail): the user themself, or an admin
/// acting with all of their rights ([`Principal::acts_as_admin`]: a session or an unrestricted
/// token; an administrator's limited token sees what a member sees).
pub fn sees_private_details(principal: Option<&Principal>, login: &str) -> bool {
    principal.is_some_and(|p| p.acts_as_admin() || p.login() == login)
}

fn non_negative(v: Option<&serde_json::Value>) -> u64 {
    v.and_then(serde_json::Value::as_i64).and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

impl Registry {
    /// The summary of a crate (any spelling of the name leads to its normalized form).
    pub async fn crate_summary(
        &self,
        principal: Option<&Principal>,
        name: &NormalizedName,
    ) -> DomainResult<Option<CrateRecord>> {
        self.check_read(principal)?;
        Ok(match self.items.get(&keys::crate_summary(name)).await? {
            Some(item) => Some(item.to_entity()?),
            None => None,
        })
    }

    /// Every version of a crate in publish order (one partition query; empty for unknown crates).
    pub async fn crate_versions(
        &self,
        principal: Option<&Principal>,
        name: &NormalizedName,
    ) -> DomainResult<Vec<VersionRecord>> {
        self.check_read(principal)?;
        self.load_versions(name).await
    }

    /// The owner items of a crate, by login (one partition query).
    pub async fn crate_owners(
        &self,
        principal: Option<&Principal>,
        name: &NormalizedName,
    ) -> DomainResult<Vec<OwnerRecord>> {
        self.check_read(principal)?;
        let q = Query::partition(keys::crate_pk(name)).prefix(keys::OWNER_PREFIX);
        let mut owners = query_all(self.items.as_ref(), &q)
            .await?
            .iter()
            .map(|i| i.to_entity::<OwnerRecord>())
            .collect::<Result<Vec<_>, _>>()?;
        owners.sort_by(|a, b| a.login.cmp(&b.login));
        Ok(owners)
    }

    /// The README of a version: inline in the version item, or read from the blob store when it
    /// was too large for the item.
    pub async fn version_readme(
        &self,
        principal: Option<&Principal>,
        version: &VersionRecord,
    ) -> DomainResult<Option<String>> {
        self.check_read(principal)?;
        if let Some(text) = &version.readme {
            return Ok(Some(text.clone()));
        }
        let Some(key) = &version.readme_blob else { return Ok(None) };
        self.readme_blob(principal, key).await
    }

    /// A README spilled to the blob store, by its key.
    pub(crate) async fn readme_blob(&self, principal: Option<&Principal>, key: &str) -> DomainResult<Option<String>> {
        self.check_read(principal)?;
        let Some(blob) = self.blobs.get(key).await? else {
            tracing::warn!(key = %key, "a version points at a README blob that does not exist");
            return Ok(None);
        };
        if blob.len > MAX_README_BYTES as u64 {
            return Err(DomainError::internal(format!("README blob {key} is {} bytes", blob.len)));
        }
        let bytes = blob.into_bytes().await?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Download totals (crate and per version) and the per-day series of a crate, from its daily
    /// counter items `DL#{date}` (one partition query over the crate's download history).
    pub async fn crate_downloads(
        &self,
        principal: Option<&Principal>,
        name: &NormalizedName,
    ) -> DomainResult<DownloadStats> {
        self.check_read(principal)?;
        self.download_stats_of(name).await
    }

    /// [`Registry::crate_downloads`] without the read check (for services that checked it).
    pub(crate) async fn download_stats_of(&self, name: &NormalizedName) -> DomainResult<DownloadStats> {
        let q = Query::partition(keys::crate_pk(name)).prefix(keys::DOWNLOADS_PREFIX);
        let mut stats = DownloadStats::default();
        for item in query_all(self.items.as_ref(), &q).await? {
            let Some(date) =
                item.get_str(crate::store::item::SK).and_then(|sk| sk.strip_prefix(keys::DOWNLOADS_PREFIX))
            else {
                continue;
            };
            let day_total = non_negative(item.get("total"));
            stats.total += day_total;
            stats.per_day.insert(date.to_owned(), day_total);
            for (attr, value) in &item.0 {
                if let Some(vers) = attr.strip_prefix("v:") {
                    let n = non_negative(Some(value));
                    *stats.per_version.entry(vers.to_owned()).or_default() += n;
                    *stats.per_version_day.entry(vers.to_owned()).or_default().entry(date.to_owned()).or_default() += n;
                }
            }
        }
        Ok(stats)
    }

    /// One page of the user directory (GSI2 `USERS`), by login, starting after `after`.
    pub async fn list_users(
        &self,
        principal: Option<&Principal>,
        after: Option<&Login>,
        limit: u32,
    ) -> DomainResult<UserPage> {
        self.check_read(principal)?;
        let limit = limit.min(MAX_USERS_PER_PAGE);
        let mut q = Query::on_index(Index::Listing, keys::user_directory_pk()).limit(limit + 1);
        if let Some(after) = after {
            // `>=` then skip the cursor itself: no sentinel characters in keys.
            q = q.sort_key(SortKey::From(after.as_str().to_owned())).limit(limit + 2);
        }
        let mut users = Vec::new();
        for item in self.items.query(&q).await?.items {
            let user: UserRecord = item.to_entity()?;
            if after.is_some_and(|a| a.as_str() == user.login) {
                continue;
            }
            users.push(user);
        }
        let has_more = users.len() > limit as usize;
        users.truncate(limit as usize);
        Ok(UserPage { users, has_more })
    }

    /// A user by login.
    pub async fn user_by_login(
        &self,
        principal: Option<&Principal>,
        login: &Login,
    ) -> DomainResult<Option<UserRecord>> {
        self.check_read(principal)?;
        self.get_user(login).await
    }

    /// Normalized names of the crates a user owns (GSI1 `USER#{login}`, `CRATE#` prefix), by name.
    pub async fn crates_owned_by(
        &self,
        principal: Option<&Principal>,
        login: &Login,
    ) -> DomainResult<Vec<NormalizedName>> {
        self.check_read(principal)?;
        let q = Query::on_index(Index::ByOwner, keys::user_pk(login)).prefix(keys::OWNED_CRATE_GSI_PREFIX);
        Ok(query_all(self.items.as_ref(), &q)
            .await?
            .iter()
            .filter_map(|i| i.get_str(Index::ByOwner.sk_attr())?.strip_prefix(keys::OWNED_CRATE_GSI_PREFIX))
            .map(NormalizedName::from_stored)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_days_are_zero_filled_and_ordered() {
        let mut stats = DownloadStats::default();
        stats.per_day.insert("2026-03-01".into(), 5);
        stats.per_day.insert("2026-02-27".into(), 2);
        stats.per_day.insert("2025-01-01".into(), 100);
        let today = time::macros::datetime!(2026-03-01 12:00 UTC);
        let days = stats.last_days(3, today);
        assert_eq!(
            days,
            vec![("2026-02-27".to_owned(), 2), ("2026-02-28".to_owned(), 0), ("2026-03-01".to_owned(), 5)]
        );
        assert!(stats.last_days(0, today).is_empty());
    }
}
