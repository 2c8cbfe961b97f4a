//! `Version`, its features and dependencies.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use raktar_core::domain::{CrateName, DomainError, Login, NormalizedName};
use raktar_core::services::views::{DependencyKind as Kind, VersionView};

use crate::context::env;
use crate::error::Res;
use crate::limits::{LIST_ITEM_BYTES, strings_bytes};
use crate::loaders::{CrateKey, DownloadsKey, UserKey};
use crate::types::krate::{
    CrateObj, DailyDownloads, Links, README_COST, SHORT_LIST_ITEMS, daily_series, list_cost, readme_text,
};
use crate::types::scalars::DateTime;
use crate::types::user::UserObj;

/// One published version of a crate.
pub struct VersionObj {
    norm: NormalizedName,
    view: Arc<VersionView>,
}

impl VersionObj {
    pub fn new(norm: NormalizedName, view: Arc<VersionView>) -> Self {
        Self { norm, view }
    }
}

/// One published version of a crate.
#[Object(name = "Version")]
impl VersionObj {
    /// Stable, opaque identity: `version:{normalized crate name}@{version}`.
    async fn id(&self) -> ID {
        ID(format!("version:{}@{}", self.norm, self.view.vers))
    }

    /// When the version was yanked; null when it is not yanked (or was yanked before yank times
    /// were recorded).
    async fn yanked_at(&self) -> Option<DateTime> {
        self.view.yanked_at.clone().map(DateTime)
    }

    /// Who yanked it; null when it is not yanked, the yank was not recorded, or that account no
    /// longer exists.
    async fn yanked_by(&self, ctx: &Context<'_>) -> Res<Option<UserObj>> {
        let Some(login) = self.view.yanked_by.as_deref().and_then(|l| Login::parse(l).ok()) else { return Ok(None) };
        Ok(env(ctx)?.loaders.load_one(UserKey(login)).await?.map(UserObj::new))
    }

    /// Downloads of this version per UTC day for the last `days` days (today included), oldest
    /// first, zero-filled; like `Crate.downloads.daily`. At most 366 days.
    #[graphql(complexity = "list_cost(Some(days), 0, child_complexity)")]
    async fn downloads_by_day(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 90)] days: i32,
    ) -> Res<Vec<DailyDownloads>> {
        daily_series(ctx, &self.norm, Some(&self.view.vers), days).await
    }

    /// The version exactly as published (build metadata included).
    async fn version(&self) -> &str {
        &self.view.vers
    }

    /// The crate this version belongs to.
    #[graphql(name = "crate")]
    async fn krate(&self, ctx: &Context<'_>) -> Res<CrateObj> {
        let env = env(ctx)?;
        let summary = env
            .loaders
            .load_one(CrateKey(self.norm.clone()))
            .await?
            .ok_or_else(|| DomainError::not_found(format!("crate `{}` does not exist", self.norm)))?;
        Ok(CrateObj::from_summary(summary))
    }

    /// Yanked versions stay downloadable for existing lockfiles but are not chosen by new
    /// resolutions.
    async fn yanked(&self) -> bool {
        self.view.yanked
    }

    async fn published_at(&self) -> DateTime {
        DateTime(self.view.pubtime.clone())
    }

    /// Who published it (null if that account no longer exists).
    async fn publisher(&self, ctx: &Context<'_>) -> Res<Option<UserObj>> {
        let Ok(login) = Login::parse(&self.view.publisher) else { return Ok(None) };
        Ok(env(ctx)?.loaders.load_one(UserKey(login)).await?.map(UserObj::new))
    }

    /// SHA-256 (lowercase hex) of the `.crate` file.
    async fn checksum(&self) -> &str {
        &self.view.cksum
    }

    /// Size of the `.crate` file in bytes.
    async fn size(&self) -> u64 {
        self.view.size
    }

    /// Total size of the packaged files in bytes.
    async fn unpacked_size(&self) -> u64 {
        self.view.unpacked_size
    }

    /// Minimum supported Rust version (`rust-version`), if declared.
    async fn rust_version(&self) -> Option<&str> {
        self.view.rust_version.as_deref()
    }

    async fn description(&self) -> Option<&str> {
        self.view.description.as_deref()
    }

    async fn license(&self) -> Option<&str> {
        self.view.license.as_deref()
    }

    async fn authors(&self, ctx: &Context<'_>) -> Res<&[String]> {
        env(ctx)?.charge(strings_bytes(&self.view.authors))?;
        Ok(&self.view.authors)
    }

    async fn keywords(&self) -> &[String] {
        &self.view.keywords
    }

    async fn categories(&self) -> &[String] {
        &self.view.categories
    }

    async fn links(&self) -> Links {
        Links {
            homepage: self.view.homepage.clone(),
            repository: self.view.repository.clone(),
            documentation: self.view.documentation.clone(),
        }
    }

    /// The `links` manifest key: the native library this version links.
    async fn native_library(&self) -> Option<&str> {
        self.view.native_library.as_deref()
    }

    /// Features and what each enables, by name (`dep:` and `?/` syntax included).
    #[graphql(complexity = "list_cost(None, SHORT_LIST_ITEMS, child_complexity)")]
    async fn features(&self, ctx: &Context<'_>) -> Res<Vec<Feature>> {
        let all = self.view.features.clone();
        let bytes = all.iter().fold(0usize, |n, (name, enables)| {
            n.saturating_add(LIST_ITEM_BYTES).saturating_add(name.len()).saturating_add(strings_bytes(enables))
        });
        env(ctx)?.charge(bytes)?;
        Ok(all.into_iter().map(|(name, enables)| Feature { name, enables }).collect())
    }

    /// Dependencies as published.
    #[graphql(complexity = "list_cost(None, SHORT_LIST_ITEMS, child_complexity)")]
    async fn dependencies(&self, ctx: &Context<'_>) -> Res<Vec<Dependency>> {
        let deps = &self.view.dependencies;
        let bytes = deps.iter().fold(0usize, |n, d| {
            let strings = d.name.len()
                + d.req.len()
                + d.alias.as_ref().map_or(0, String::len)
                + d.target.as_ref().map_or(0, String::len)
                + d.registry.as_ref().map_or(0, String::len);
            n.saturating_add(LIST_ITEM_BYTES).saturating_add(strings).saturating_add(strings_bytes(&d.features))
        });
        env(ctx)?.charge(bytes)?;
        Ok(deps
            .iter()
            .map(|d| Dependency {
                kind: d.kind.into(),
                name: d.name.clone(),
                alias: d.alias.clone(),
                req: d.req.clone(),
                target: d.target.clone(),
                optional: d.optional,
                default_features: d.default_features,
                features: d.features.clone(),
                registry: d.registry.clone(),
            })
            .collect())
    }

    /// Downloads of this version.
    async fn downloads(&self, ctx: &Context<'_>) -> Res<u64> {
        let stats = env(ctx)?.loaders.load_one(DownloadsKey(self.norm.clone())).await?.unwrap_or_default();
        Ok(stats.of_version(&self.view.vers))
    }

    /// README as published (Markdown), if any.
    #[graphql(complexity = "README_COST")]
    async fn readme(&self, ctx: &Context<'_>) -> Res<Option<String>> {
        readme_text(ctx, &self.norm, &self.view).await
    }
}

/// A feature and what it enables.
#[derive(SimpleObject, Clone, Debug)]
pub struct Feature {
    pub name: String,
    /// Features, dependencies (`dep:name`) and dependency features (`name/feat`, `name?/feat`).
    pub enables: Vec<String>,
}

/// When a dependency is used.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum DependencyKind {
    Normal,
    Dev,
    Build,
}

impl From<Kind> for DependencyKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Normal => DependencyKind::Normal,
            Kind::Dev => DependencyKind::Dev,
            Kind::Build => DependencyKind::Build,
        }
    }
}

/// A dependency of a version.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct Dependency {
    /// The crate depended on (its real name, also when renamed).
    pub name: String,
    /// The name the dependent uses for it, when renamed (`package = ...`).
    pub alias: Option<String>,
    /// Version requirement.
    pub req: String,
    pub kind: DependencyKind,
    /// Platform condition (`cfg(unix)` or a target triple), if any.
    pub target: Option<String>,
    pub optional: bool,
    pub default_features: bool,
    pub features: Vec<String>,
    /// Index URL of another registry; null when the dependency comes from this registry.
    pub registry: Option<String>,
}

#[async_graphql::ComplexObject]
impl Dependency {
    /// The crate in this registry, when the dependency comes from this registry.
    #[graphql(name = "crate")]
    async fn krate(&self, ctx: &Context<'_>) -> Res<Option<CrateObj>> {
        if self.registry.is_some() {
            return Ok(None);
        }
        let Ok(name) = CrateName::parse(&self.name) else { return Ok(None) };
        Ok(env(ctx)?.loaders.load_one(CrateKey(name.normalized())).await?.map(CrateObj::from_summary))
    }
}
