//! The dependency-confusion guard (reserved names, collisions) and the pull-through cache of the
//! upstream registry (figures, purge). Administrators only.

use async_graphql::{Context, Object, SimpleObject};
use raktar_core::domain::CrateName;
use raktar_core::services::names::{NameCollision, ReservedName};
use raktar_core::services::upstream::{CachedCrateView, PurgeReport, UpstreamCacheView};

use crate::context::env;
use crate::error::Res;
use crate::types::scalars::DateTime;

/// A crate name reserved for private use: a new private crate may take it although the name
/// exists upstream, and the pull-through index never serves the upstream's crate of that name.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "ReservedName")]
pub struct ReservedNameObj {
    pub name: String,
    pub reserved_at: DateTime,
    /// Login of the administrator (`cli` for the command line).
    pub reserved_by: String,
    pub note: Option<String>,
    /// Whether a private crate has the name already.
    pub published: bool,
}

impl From<ReservedName> for ReservedNameObj {
    fn from(r: ReservedName) -> Self {
        Self {
            name: r.name,
            reserved_at: DateTime(r.reserved_at),
            reserved_by: r.reserved_by,
            note: r.note,
            published: r.published,
        }
    }
}

/// A private crate whose name also exists in the upstream registry.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "NameCollision")]
pub struct NameCollisionObj {
    /// The private crate.
    pub name: String,
    /// The spellings found upstream.
    pub upstream_names: Vec<String>,
    /// Whether the name is reserved (an accepted collision).
    pub reserved: bool,
}

impl From<NameCollision> for NameCollisionObj {
    fn from(c: NameCollision) -> Self {
        Self { name: c.name, upstream_names: c.upstream_names, reserved: c.reserved }
    }
}

/// An upstream `.crate` held by the pull-through cache.
#[derive(SimpleObject, Clone, Debug)]
pub struct CachedCrate {
    pub name: String,
    pub version: String,
    /// Bytes.
    pub size: i32,
    /// Downloads served through the cache (the first fetch included).
    pub downloads: i32,
    pub fetched_at: DateTime,
}

impl From<CachedCrateView> for CachedCrate {
    fn from(c: CachedCrateView) -> Self {
        Self {
            name: c.name,
            version: c.version,
            size: int(c.size),
            downloads: int(c.downloads),
            fetched_at: DateTime(c.fetched_at),
        }
    }
}

/// The pull-through cache of the upstream registry. Counts are totals since the cache started
/// (hits and misses of the last seconds may still be on their way from other processes).
#[derive(SimpleObject, Clone, Debug)]
pub struct UpstreamCache {
    /// The upstream's sparse index URL.
    pub upstream_url: String,
    /// Seconds a cached index file is served before the upstream is asked again.
    pub freshness_seconds: i32,
    pub index_files: i32,
    /// Bytes (a `Float`: caches outgrow 32 bits).
    pub index_bytes: f64,
    pub crate_files: i32,
    /// Bytes (a `Float`).
    pub crate_bytes: f64,
    /// Answers from the cache within the freshness period.
    pub hits: i32,
    /// Answers fetched from the upstream.
    pub misses: i32,
    /// Answers from the cache after the upstream confirmed them.
    pub revalidated: i32,
    /// Answers from the cache while the upstream was unreachable.
    pub stale: i32,
    /// Failed upstream requests.
    pub errors: i32,
    /// Upstream `.crate` files refused (checksum mismatch).
    pub rejected: i32,
    /// Cache answers (hits, revalidated, stale) over all answers; null before the first.
    pub hit_ratio: Option<f64>,
    /// The most downloaded cached crates.
    pub most_fetched: Vec<CachedCrate>,
}

impl From<UpstreamCacheView> for UpstreamCache {
    fn from(v: UpstreamCacheView) -> Self {
        Self {
            upstream_url: v.upstream_url.unwrap_or_default(),
            freshness_seconds: v.freshness_secs.map_or(0, |s| i32::try_from(s).unwrap_or(i32::MAX)),
            index_files: int(v.index_files),
            index_bytes: v.index_bytes as f64,
            crate_files: int(v.crate_files),
            crate_bytes: v.crate_bytes as f64,
            hits: int(v.hits),
            misses: int(v.misses),
            revalidated: int(v.revalidated),
            stale: int(v.stale),
            errors: int(v.errors),
            rejected: int(v.rejected),
            hit_ratio: v.hit_ratio,
            most_fetched: v.most_fetched.into_iter().map(Into::into).collect(),
        }
    }
}

/// What a purge removed.
#[derive(SimpleObject, Clone, Debug)]
pub struct UpstreamPurge {
    pub index_files: i32,
    pub crate_files: i32,
    pub bytes: f64,
}

impl From<PurgeReport> for UpstreamPurge {
    fn from(r: PurgeReport) -> Self {
        Self { index_files: int(r.index_files), crate_files: int(r.crate_files), bytes: r.bytes as f64 }
    }
}

/// A count as a GraphQL `Int` (saturating).
fn int(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Rough answer sizes (for the response budget).
const ROW_BYTES: usize = 512;

#[derive(Default)]
pub struct UpstreamQuery;

#[Object]
impl UpstreamQuery {
    /// Names reserved for private crates (administrators).
    async fn reserved_names(&self, ctx: &Context<'_>) -> Res<Vec<ReservedNameObj>> {
        let env = env(ctx)?;
        let names = env.registry.admin_reserved_names(env.caller).await?;
        env.charge(names.len().saturating_mul(ROW_BYTES))?;
        Ok(names.into_iter().map(Into::into).collect())
    }

    /// Private crates whose names exist in the upstream registry (administrators; asks the
    /// upstream for names it has not cached; `UPSTREAM_UNAVAILABLE` when it cannot be reached,
    /// `BAD_USER_INPUT` without an upstream).
    async fn name_collisions(&self, ctx: &Context<'_>) -> Res<Vec<NameCollisionObj>> {
        let env = env(ctx)?;
        let found = env.registry.admin_name_collisions(env.caller).await?;
        env.charge(found.len().saturating_mul(ROW_BYTES))?;
        Ok(found.into_iter().map(Into::into).collect())
    }

    /// The pull-through cache's figures (administrators); null when no upstream is configured.
    async fn upstream_cache(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10, validator(minimum = 0, maximum = 100))] most_fetched: i32,
    ) -> Res<Option<UpstreamCache>> {
        let env = env(ctx)?;
        let limit = usize::try_from(most_fetched).unwrap_or(0);
        env.charge(limit.saturating_mul(ROW_BYTES))?;
        Ok(env.registry.upstream_cache_view(env.caller, limit).await?.map(Into::into))
    }
}

#[derive(Default)]
pub struct UpstreamMutation;

#[Object]
impl UpstreamMutation {
    /// Reserves a crate name for private use (administrators).
    async fn reserve_name(&self, ctx: &Context<'_>, name: String, note: Option<String>) -> Res<ReservedNameObj> {
        let env = env(ctx)?;
        let name = CrateName::parse(&name)?;
        Ok(env.registry.admin_reserve_name(env.caller, &name, note).await?.into())
    }

    /// Releases a reserved name (administrators); a published private crate keeps its name.
    async fn release_name(&self, ctx: &Context<'_>, name: String) -> Res<bool> {
        let env = env(ctx)?;
        let name = CrateName::parse(&name)?;
        env.registry.admin_release_name(env.caller, &name).await?;
        Ok(true)
    }

    /// Removes cached upstream files: of one crate name, or all of them when `name` is null
    /// (administrators). They are fetched again on the next request.
    async fn purge_upstream_cache(&self, ctx: &Context<'_>, name: Option<String>) -> Res<UpstreamPurge> {
        let env = env(ctx)?;
        Ok(env.registry.purge_upstream_cache(env.caller, name.as_deref()).await?.into())
    }
}
