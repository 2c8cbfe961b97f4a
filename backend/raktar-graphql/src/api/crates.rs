//! Crates: lookup, search, yank/unyank, owners.

use async_graphql::{Context, Enum, Object};
use raktar_core::domain::{CrateName, CrateVersion, DomainError};
use raktar_core::services::auth::require;
use raktar_core::services::listings::{CrateFilter, CrateSort};

use crate::context::env;
use crate::error::Res;
use crate::loaders::{CrateKey, clear_all};
use crate::types::krate::{CrateConnection, CrateObj, crate_connection, page_args, page_cost};
use crate::types::version::VersionObj;

#[derive(Default)]
pub struct CratesQuery;

#[Object]
impl CratesQuery {
    /// A crate by name, in any spelling that normalizes to it (case, `-` and `_`); null when no
    /// such crate exists.
    #[graphql(name = "crate")]
    async fn krate(&self, ctx: &Context<'_>, name: String) -> Res<Option<CrateObj>> {
        let name = CrateName::parse(&name)?;
        let env = env(ctx)?;
        let norm = name.normalized();
        let Some(summary) = env.registry.crate_view(env.caller, &norm).await? else { return Ok(None) };
        let summary = std::sync::Arc::new(summary);
        env.loaders.feed_one(CrateKey(norm), summary.clone()).await;
        Ok(Some(CrateObj::from_summary(summary)))
    }

    /// Searches crates with the same ranking as `cargo search`: exact name, name prefix, name
    /// substring, keyword, then description; shorter names first within a rank. An empty query
    /// lists every crate. `sort` orders the matches otherwise (ties by name; null: `RELEVANCE`); `keyword` and
    /// `category` keep the crates whose highest version lists them (case-insensitive; `-` and `_`
    /// are equal in keywords). Download orders may lag the counters by a few minutes.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn crates(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] query: String,
        #[graphql(default_with = "Some(CrateSortGql::Relevance)")] sort: Option<CrateSortGql>,
        keyword: Option<String>,
        category: Option<String>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Res<CrateConnection> {
        let (offset, limit) = page_args(first, after.as_deref())?;
        for (arg, value) in [("keyword", &keyword), ("category", &category)] {
            if value.as_ref().is_some_and(|v| v.len() > MAX_FILTER_LEN) {
                return Err(DomainError::bad_request(format!("`{arg}` is at most {MAX_FILTER_LEN} bytes")).into());
            }
        }
        let env = env(ctx)?;
        let filter = CrateFilter { keyword, category };
        let sort = sort.unwrap_or(CrateSortGql::Relevance).into();
        let results = env.registry.list_crates(env.caller, &query, sort, &filter, offset, limit).await?;
        crate_connection(ctx, results, offset)
    }
}

/// Longest keyword or category filter.
const MAX_FILTER_LEN: usize = 100;

/// The order of a crate listing.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "CrateSort")]
pub enum CrateSortGql {
    /// Search rank (like `cargo search`); for the empty query, shorter names first.
    Relevance,
    /// By name.
    Name,
    /// All-time downloads, most first.
    Downloads,
    /// Downloads of the last 90 days, most first.
    RecentDownloads,
    /// Last change (publish, yank, owner change), newest first.
    RecentlyUpdated,
    /// First publish, newest first.
    NewlyAdded,
}

impl From<CrateSortGql> for CrateSort {
    fn from(s: CrateSortGql) -> Self {
        match s {
            CrateSortGql::Relevance => CrateSort::Relevance,
            CrateSortGql::Name => CrateSort::Name,
            CrateSortGql::Downloads => CrateSort::Downloads,
            CrateSortGql::RecentDownloads => CrateSort::RecentDownloads,
            CrateSortGql::RecentlyUpdated => CrateSort::RecentlyUpdated,
            CrateSortGql::NewlyAdded => CrateSort::NewlyAdded,
        }
    }
}

#[derive(Default)]
pub struct CratesMutation;

async fn set_yanked(ctx: &Context<'_>, krate: &str, version: &str, yanked: bool) -> Res<VersionObj> {
    let env = env(ctx)?;
    let principal = require(env.caller)?;
    let name = CrateName::parse(krate)?;
    let version = CrateVersion::parse(version)?;
    env.registry.set_yanked(principal, &name, &version, yanked).await?;
    clear_all(env.loaders);
    let norm = name.normalized();
    let versions = env.registry.version_views(env.caller, &norm).await?;
    let record = versions
        .into_iter()
        .find(|v| v.vers == version.as_str())
        .ok_or_else(|| DomainError::not_found(format!("crate `{name}` has no version `{version}`")))?;
    Ok(VersionObj::new(norm, std::sync::Arc::new(record)))
}

async fn change_owners(ctx: &Context<'_>, krate: &str, logins: &[String], add: bool) -> Res<CrateObj> {
    let env = env(ctx)?;
    let principal = require(env.caller)?;
    let name = CrateName::parse(krate)?;
    env.registry.change_owners(principal, &name, logins, add).await?;
    clear_all(env.loaders);
    let summary = env
        .registry
        .crate_view(env.caller, &name.normalized())
        .await?
        .ok_or_else(|| DomainError::not_found(format!("crate `{name}` does not exist")))?;
    Ok(CrateObj::from_summary(std::sync::Arc::new(summary)))
}

#[Object]
impl CratesMutation {
    /// Yanks a version (owners and admins; a token needs the `yank` scope). Idempotent.
    async fn yank_version(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "crate")] krate: String,
        version: String,
    ) -> Res<VersionObj> {
        set_yanked(ctx, &krate, &version, true).await
    }

    /// Un-yanks a version (owners and admins; a token needs the `yank` scope). Idempotent.
    async fn unyank_version(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "crate")] krate: String,
        version: String,
    ) -> Res<VersionObj> {
        set_yanked(ctx, &krate, &version, false).await
    }

    /// Adds owners by login (owners and admins; a token needs the `change-owners` scope).
    /// Logins that already own the crate are left as they are.
    async fn add_crate_owners(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "crate")] krate: String,
        logins: Vec<String>,
    ) -> Res<CrateObj> {
        change_owners(ctx, &krate, &logins, true).await
    }

    /// Removes owners by login (owners and admins; a token needs the `change-owners` scope). A
    /// crate always keeps at least one owner.
    async fn remove_crate_owners(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "crate")] krate: String,
        logins: Vec<String>,
    ) -> Res<CrateObj> {
        change_owners(ctx, &krate, &logins, false).await
    }
}
