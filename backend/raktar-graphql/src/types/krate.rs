//! `Crate`, its links, downloads and the crate connection (search, reverse dependencies).

use std::sync::Arc;

use async_graphql::connection::{Connection, CursorType, Edge, OpaqueCursor};
use async_graphql::{Context, ID, Object, SimpleObject};
use raktar_core::domain::{CrateVersion, DomainError, NormalizedName};
use raktar_core::services::clock;
use raktar_core::services::crates::DownloadStats;
use raktar_core::services::search::{SearchHit, SearchResults};
use raktar_core::services::views::CrateView;

use crate::context::env;
use crate::error::Res;
use crate::limits::LIST_ITEM_BYTES;
use crate::loaders::{self, CrateKey, DownloadsKey, OwnersKey, UserKey, VersionsKey};
use crate::types::scalars::{Date, DateTime};
use crate::types::user::UserObj;
use crate::types::version::{DependencyKind, VersionObj};

/// Most items one connection page returns.
pub const MAX_PAGE: i32 = 100;
/// Most days of a download series.
pub const MAX_DAYS: i32 = 366;

/// Complexity of a README (the largest field there is: up to megabytes of text).
pub const README_COST: usize = 20;
/// Items a list without a `first` argument is priced at (versions of a crate, crates of a user).
pub const UNBOUNDED_LIST_ITEMS: usize = 20;
/// Items a short list is priced at (owners, features and dependencies of a version).
pub const SHORT_LIST_ITEMS: usize = 5;

/// Project links of a crate or version.
#[derive(SimpleObject, Clone, Debug)]
pub struct Links {
    pub homepage: Option<String>,
    pub repository: Option<String>,
    pub documentation: Option<String>,
}

/// A crate: its summary when known (a lookup, or a search hit from the catalog), else loaded
/// on first use (once per request).
pub struct CrateObj {
    norm: NormalizedName,
    summary: Option<Arc<CrateView>>,
}

impl CrateObj {
    pub fn from_summary(summary: Arc<CrateView>) -> Self {
        Self { norm: NormalizedName::from_stored(&summary.name), summary: Some(summary) }
    }

    pub fn from_hit(hit: SearchHit) -> Self {
        Self { norm: NormalizedName::from_stored(&hit.name), summary: hit.view().map(Arc::new) }
    }

    fn by_name(norm: NormalizedName) -> Self {
        Self { norm, summary: None }
    }

    async fn summary(&self, ctx: &Context<'_>) -> Res<Arc<CrateView>> {
        if let Some(s) = &self.summary {
            return Ok(s.clone());
        }
        let env = env(ctx)?;
        env.loaders
            .load_one(CrateKey(self.norm.clone()))
            .await?
            .ok_or_else(|| DomainError::not_found(format!("crate `{}` does not exist", self.norm)).into())
    }

    async fn max_version_of(&self, ctx: &Context<'_>) -> Res<String> {
        Ok(self.summary(ctx).await?.max_version.clone())
    }

    async fn downloads_stats(&self, ctx: &Context<'_>) -> Res<Arc<DownloadStats>> {
        Ok(env(ctx)?.loaders.load_one(DownloadsKey(self.norm.clone())).await?.unwrap_or_default())
    }
}

/// A crate of this registry.
#[Object(name = "Crate")]
impl CrateObj {
    /// Stable, opaque identity: `crate:{normalized name}`.
    async fn id(&self) -> ID {
        ID(format!("crate:{}", self.norm))
    }

    /// Whether the caller may manage this crate (yank, owners): an owner or an administrator,
    /// through a session or a token with the `yank` or `change-owners` scope for it.
    async fn viewer_can_manage(&self, ctx: &Context<'_>) -> Res<bool> {
        let env = env(ctx)?;
        if env.caller.is_none() {
            return Ok(false);
        }
        let owners = env.loaders.load_one(OwnersKey(self.norm.clone())).await?.unwrap_or_default();
        let name = self.summary(ctx).await?.name.clone();
        Ok(env.registry.may_manage(env.caller, &name, &owners))
    }

    /// Crates of this registry whose highest version depends on this crate, by name, with the
    /// requirement and kind of that dependency.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn dependents(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Res<DependentConnection> {
        let (offset, limit) = page_args(first, after.as_deref())?;
        let env = env(ctx)?;
        let page = env.registry.dependents_of(env.caller, &self.norm, offset, limit).await?;
        env.charge(page.dependents.len().saturating_mul(LIST_ITEM_BYTES))?;
        let has_next = offset + limit < page.total;
        let mut conn = Connection::with_additional_fields(
            offset > 0,
            has_next,
            CrateConnectionFields { total_count: page.total as u64 },
        );
        conn.edges.extend(page.dependents.into_iter().enumerate().map(|(i, d)| {
            Edge::new(
                OpaqueCursor(offset + i),
                Dependent {
                    krate: CrateObj::from_summary(Arc::new(d.krate)),
                    version: d.version,
                    req: d.req,
                    kind: d.kind.into(),
                    optional: d.optional,
                    target: d.target,
                },
            )
        }));
        Ok(conn)
    }

    /// The name as first published (its canonical spelling). Lookups accept any spelling that
    /// normalizes to the same name (case, `-` and `_`).
    async fn name(&self, ctx: &Context<'_>) -> Res<String> {
        Ok(self.summary(ctx).await?.name.clone())
    }

    /// Description of the highest version.
    async fn description(&self, ctx: &Context<'_>) -> Res<Option<String>> {
        Ok(self.summary(ctx).await?.description.clone())
    }

    /// Highest version that is not yanked (preferring releases over pre-releases); the highest
    /// version when every version is yanked.
    async fn max_version(&self, ctx: &Context<'_>) -> Res<String> {
        self.max_version_of(ctx).await
    }

    async fn keywords(&self, ctx: &Context<'_>) -> Res<Vec<String>> {
        Ok(self.summary(ctx).await?.keywords.clone())
    }

    async fn categories(&self, ctx: &Context<'_>) -> Res<Vec<String>> {
        Ok(self.summary(ctx).await?.categories.clone())
    }

    /// SPDX license expression of the highest version.
    async fn license(&self, ctx: &Context<'_>) -> Res<Option<String>> {
        Ok(self.summary(ctx).await?.license.clone())
    }

    async fn links(&self, ctx: &Context<'_>) -> Res<Links> {
        let s = self.summary(ctx).await?;
        Ok(Links {
            homepage: s.homepage.clone(),
            repository: s.repository.clone(),
            documentation: s.documentation.clone(),
        })
    }

    /// Number of versions ever published (yanked ones included).
    async fn version_count(&self, ctx: &Context<'_>) -> Res<u64> {
        Ok(self.summary(ctx).await?.version_count)
    }

    async fn created_at(&self, ctx: &Context<'_>) -> Res<DateTime> {
        Ok(DateTime(self.summary(ctx).await?.created_at.clone()))
    }

    /// Last change of the crate (publish, yank, owner change).
    async fn updated_at(&self, ctx: &Context<'_>) -> Res<DateTime> {
        Ok(DateTime(self.summary(ctx).await?.updated_at.clone()))
    }

    /// Owners, by login.
    #[graphql(complexity = "list_cost(None, SHORT_LIST_ITEMS, child_complexity)")]
    async fn owners(&self, ctx: &Context<'_>) -> Res<Vec<UserObj>> {
        let env = env(ctx)?;
        let owners = env.loaders.load_one(OwnersKey(self.norm.clone())).await?.unwrap_or_default();
        env.charge(owners.len().saturating_mul(LIST_ITEM_BYTES))?;
        let keys: Vec<UserKey> =
            owners.iter().filter_map(|o| raktar_core::domain::Login::parse(o).ok()).map(UserKey).collect();
        let users = env.loaders.load_many(keys.clone()).await?;
        Ok(keys.iter().filter_map(|k| users.get(k)).map(|u| UserObj::new(u.clone())).collect())
    }

    /// Versions, newest publish first; `first` limits the list.
    #[graphql(complexity = "list_cost(first, UNBOUNDED_LIST_ITEMS, child_complexity)")]
    async fn versions(&self, ctx: &Context<'_>, first: Option<i32>) -> Res<Vec<VersionObj>> {
        let env = env(ctx)?;
        let limit = match first {
            Some(n) if n < 0 => return Err(DomainError::bad_request("`first` must not be negative").into()),
            Some(n) => usize::try_from(n).unwrap_or(0),
            None => usize::MAX,
        };
        let versions = env.loaders.load_one(VersionsKey(self.norm.clone())).await?.unwrap_or_default();
        env.charge(versions.len().min(limit).saturating_mul(LIST_ITEM_BYTES))?;
        Ok(versions.iter().rev().take(limit).map(|v| VersionObj::new(self.norm.clone(), v.clone())).collect())
    }

    /// One version, by its exact version string (build metadata may be left out).
    async fn version(&self, ctx: &Context<'_>, version: String) -> Res<Option<VersionObj>> {
        let wanted = CrateVersion::parse(&version)?;
        let env = env(ctx)?;
        let versions = env.loaders.load_one(VersionsKey(self.norm.clone())).await?.unwrap_or_default();
        let found = versions.iter().find(|v| v.vers == wanted.as_str()).or_else(|| {
            versions.iter().find(|v| CrateVersion::parse(&v.vers).is_ok_and(|p| p.identity() == wanted.identity()))
        });
        Ok(found.map(|v| VersionObj::new(self.norm.clone(), v.clone())))
    }

    /// The version named by `maxVersion`: the one a crate page shows first.
    async fn default_version(&self, ctx: &Context<'_>) -> Res<Option<VersionObj>> {
        let max = self.max_version_of(ctx).await?;
        let versions = env(ctx)?.loaders.load_one(VersionsKey(self.norm.clone())).await?.unwrap_or_default();
        Ok(versions.iter().find(|v| v.vers == max).map(|v| VersionObj::new(self.norm.clone(), v.clone())))
    }

    /// README of the version named by `maxVersion` (Markdown as published), if it has one.
    #[graphql(complexity = "README_COST")]
    async fn readme(&self, ctx: &Context<'_>) -> Res<Option<String>> {
        let max = self.max_version_of(ctx).await?;
        let env = env(ctx)?;
        let versions = env.loaders.load_one(VersionsKey(self.norm.clone())).await?.unwrap_or_default();
        match versions.iter().find(|v| v.vers == max) {
            Some(v) => readme_text(ctx, &self.norm, v).await,
            None => Ok(None),
        }
    }

    /// Download counts.
    async fn downloads(&self) -> CrateDownloads {
        CrateDownloads { norm: self.norm.clone() }
    }

    /// Crates of this registry whose highest version depends on this crate (any kind), by name.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn reverse_dependencies(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Res<CrateConnection> {
        let (offset, limit) = page_args(first, after.as_deref())?;
        let env = env(ctx)?;
        let results = env.registry.dependents(env.caller, &self.norm, offset, limit).await?;
        crate_connection(ctx, results, offset)
    }
}

/// Download counts of a crate.
pub struct CrateDownloads {
    norm: NormalizedName,
}

/// Download counts of a crate (every download of a `.crate` file counts, by UTC day).
#[Object]
impl CrateDownloads {
    /// All downloads of every version.
    async fn total(&self, ctx: &Context<'_>) -> Res<u64> {
        let obj = CrateObj::by_name(self.norm.clone());
        Ok(obj.downloads_stats(ctx).await?.total)
    }

    /// One entry per UTC day for the last `days` days (today included), oldest first; days
    /// without downloads count 0. At most 366 days.
    #[graphql(complexity = "list_cost(Some(days), 0, child_complexity)")]
    async fn daily(&self, ctx: &Context<'_>, #[graphql(default = 90)] days: i32) -> Res<Vec<DailyDownloads>> {
        daily_series(ctx, &self.norm, None, days).await
    }
}

/// A daily download series of a crate (`version: None`) or one of its versions: `days` days
/// ending today, oldest first, zero-filled; charged to the response budget by its length.
pub async fn daily_series(
    ctx: &Context<'_>,
    norm: &NormalizedName,
    version: Option<&str>,
    days: i32,
) -> Res<Vec<DailyDownloads>> {
    if !(0..=MAX_DAYS).contains(&days) {
        return Err(DomainError::bad_request(format!("`days` must be between 0 and {MAX_DAYS}")).into());
    }
    env(ctx)?.charge(usize::try_from(days).unwrap_or(0).saturating_mul(LIST_ITEM_BYTES))?;
    let obj = CrateObj::by_name(norm.clone());
    let stats = obj.downloads_stats(ctx).await?;
    let days = u32::try_from(days).unwrap_or(0);
    let series = match version {
        Some(v) => stats.last_days_of_version(v, days, clock::now()),
        None => stats.last_days(days, clock::now()),
    };
    Ok(series
        .into_iter()
        .filter_map(|(date, downloads)| {
            Some(DailyDownloads { date: Date(raktar_core::services::admin::parse_date(&date).ok()?), downloads })
        })
        .collect())
}

/// A crate that depends on another, and how.
#[derive(SimpleObject)]
pub struct Dependent {
    /// The dependent crate.
    #[graphql(name = "crate")]
    pub krate: CrateObj,
    /// The dependent's version that declares the dependency (its highest version).
    pub version: String,
    /// The version requirement on the depended-on crate.
    pub req: String,
    pub kind: DependencyKind,
    pub optional: bool,
    /// Platform condition, if any.
    pub target: Option<String>,
}

/// Dependents of a crate, a page at a time (Relay cursor connection).
pub type DependentConnection = Connection<OpaqueCursor<usize>, Dependent, CrateConnectionFields>;

/// Downloads on one UTC day.
#[derive(SimpleObject, Clone, Debug)]
pub struct DailyDownloads {
    pub date: Date,
    pub downloads: u64,
}

/// Extra fields of a crate connection.
#[derive(SimpleObject, Clone, Debug)]
pub struct CrateConnectionFields {
    /// Number of matching crates in all pages.
    pub total_count: u64,
}

/// Crates, a page at a time (Relay cursor connection).
pub type CrateConnection = Connection<OpaqueCursor<usize>, CrateObj, CrateConnectionFields>;

/// Complexity of a paged field: the page size times the cost of one item.
pub fn page_cost(first: i32, child_complexity: usize) -> usize {
    usize::try_from(first.max(1)).unwrap_or(1).saturating_mul(child_complexity).saturating_add(1)
}

/// Complexity of a list field: its size (`first` when given, else `unbounded` items) times the
/// cost of one item.
pub fn list_cost(first: Option<i32>, unbounded: usize, child_complexity: usize) -> usize {
    let items = first.map_or(unbounded, |n| usize::try_from(n).unwrap_or(0));
    items.max(1).saturating_mul(child_complexity).saturating_add(1)
}

/// The README of a version as a field value: read once per request ([`loaders::readme`]) and
/// charged to the response budget by its size before it is copied into the answer.
pub async fn readme_text(
    ctx: &Context<'_>,
    norm: &NormalizedName,
    version: &Arc<raktar_core::services::views::VersionView>,
) -> Res<Option<String>> {
    let env = env(ctx)?;
    let text = loaders::readme(
        env.loaders,
        norm,
        version,
        // Once the budget is spent, the READMEs still waiting fail without being read.
        || env.charge(0).map_err(Into::into),
        |text| match text {
            Some(text) => {
                env.charge(text.len())?;
                Ok(Some(text.to_string()))
            }
            None => Ok(None),
        },
    )
    .await?;
    Ok(text)
}

/// Validates `first` / `after` of an offset connection: `(offset, limit)`.
pub fn page_args(first: i32, after: Option<&str>) -> Res<(usize, usize)> {
    if !(0..=MAX_PAGE).contains(&first) {
        return Err(DomainError::bad_request(format!("`first` must be between 0 and {MAX_PAGE}")).into());
    }
    let offset = match after {
        Some(c) => OpaqueCursor::<usize>::decode_cursor(c)
            .map_err(|_| DomainError::bad_request("invalid cursor `after`"))?
            .0
            .saturating_add(1),
        None => 0,
    };
    Ok((offset, usize::try_from(first).unwrap_or(0)))
}

/// A connection page from ranked or sorted results starting at `offset`, charged to the
/// response budget by its size.
pub fn crate_connection(ctx: &Context<'_>, results: SearchResults, offset: usize) -> Res<CrateConnection> {
    env(ctx)?.charge(results.hits.len().saturating_mul(LIST_ITEM_BYTES))?;
    let has_next = offset + results.hits.len() < results.total;
    let mut conn = Connection::with_additional_fields(
        offset > 0,
        has_next,
        CrateConnectionFields { total_count: results.total as u64 },
    );
    conn.edges.extend(
        results
            .hits
            .into_iter()
            .enumerate()
            .map(|(i, hit)| Edge::new(OpaqueCursor(offset + i), CrateObj::from_hit(hit))),
    );
    Ok(conn)
}
