//! `Version`, its features and dependencies.

use std::sync::{Arc, OnceLock};

use async_graphql::{Context, Enum, Object, SimpleObject};
use raktar_core::domain::{CrateName, DomainError, Login, NormalizedName};
use raktar_core::model::{IndexLine, VersionRecord};

use crate::context::env;
use crate::error::Res;
use crate::limits::{LIST_ITEM_BYTES, strings_bytes};
use crate::loaders::{CrateKey, DownloadsKey, UserKey};
use crate::types::krate::{CrateObj, Links, README_COST, SHORT_LIST_ITEMS, list_cost, readme_text};
use crate::types::scalars::DateTime;
use crate::types::user::UserObj;

/// One published version of a crate.
pub struct VersionObj {
    norm: NormalizedName,
    record: Arc<VersionRecord>,
    /// The index line, parsed on first use (features, dependencies, links).
    line: OnceLock<Result<IndexLine, String>>,
}

impl VersionObj {
    pub fn new(norm: NormalizedName, record: Arc<VersionRecord>) -> Self {
        Self { norm, record, line: OnceLock::new() }
    }

    fn line(&self) -> Res<&IndexLine> {
        self.line.get_or_init(|| serde_json::from_str(&self.record.line).map_err(|e| e.to_string())).as_ref().map_err(
            |e| DomainError::internal(format!("stored index line of {} does not parse: {e}", self.record.vers)).into(),
        )
    }
}

/// One published version of a crate.
#[Object(name = "Version")]
impl VersionObj {
    /// The version exactly as published (build metadata included).
    async fn version(&self) -> &str {
        &self.record.vers
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
        self.record.yanked
    }

    async fn published_at(&self) -> DateTime {
        DateTime(self.record.pubtime.clone())
    }

    /// Who published it (null if that account no longer exists).
    async fn publisher(&self, ctx: &Context<'_>) -> Res<Option<UserObj>> {
        let Ok(login) = Login::parse(&self.record.publisher) else { return Ok(None) };
        Ok(env(ctx)?.loaders.load_one(UserKey(login)).await?.map(UserObj::new))
    }

    /// SHA-256 (lowercase hex) of the `.crate` file.
    async fn checksum(&self) -> &str {
        &self.record.cksum
    }

    /// Size of the `.crate` file in bytes.
    async fn size(&self) -> u64 {
        self.record.size
    }

    /// Total size of the packaged files in bytes.
    async fn unpacked_size(&self) -> u64 {
        self.record.unpacked_size
    }

    /// Minimum supported Rust version (`rust-version`), if declared.
    async fn rust_version(&self) -> Option<&str> {
        self.record.rust_version.as_deref()
    }

    async fn description(&self) -> Option<&str> {
        self.record.description.as_deref()
    }

    async fn license(&self) -> Option<&str> {
        self.record.license.as_deref()
    }

    async fn authors(&self, ctx: &Context<'_>) -> Res<&[String]> {
        env(ctx)?.charge(strings_bytes(&self.record.authors))?;
        Ok(&self.record.authors)
    }

    async fn keywords(&self) -> &[String] {
        &self.record.keywords
    }

    async fn categories(&self) -> &[String] {
        &self.record.categories
    }

    async fn links(&self) -> Links {
        Links {
            homepage: self.record.homepage.clone(),
            repository: self.record.repository.clone(),
            documentation: self.record.documentation.clone(),
        }
    }

    /// The `links` manifest key: the native library this version links.
    async fn native_library(&self) -> Res<Option<String>> {
        Ok(self.line()?.links.clone())
    }

    /// Features and what each enables, by name (`dep:` and `?/` syntax included).
    #[graphql(complexity = "list_cost(None, SHORT_LIST_ITEMS, child_complexity)")]
    async fn features(&self, ctx: &Context<'_>) -> Res<Vec<Feature>> {
        let line = self.line()?;
        let mut all = line.features.clone();
        all.extend(line.features2.clone().unwrap_or_default());
        let bytes = all.iter().fold(0usize, |n, (name, enables)| {
            n.saturating_add(LIST_ITEM_BYTES).saturating_add(name.len()).saturating_add(strings_bytes(enables))
        });
        env(ctx)?.charge(bytes)?;
        Ok(all.into_iter().map(|(name, enables)| Feature { name, enables }).collect())
    }

    /// Dependencies as published.
    #[graphql(complexity = "list_cost(None, SHORT_LIST_ITEMS, child_complexity)")]
    async fn dependencies(&self, ctx: &Context<'_>) -> Res<Vec<Dependency>> {
        let line = self.line()?;
        let bytes = line.deps.iter().fold(0usize, |n, d| {
            let strings = d.name.len()
                + d.req.len()
                + d.package.as_ref().map_or(0, String::len)
                + d.target.as_ref().map_or(0, String::len)
                + d.registry.as_ref().map_or(0, String::len);
            n.saturating_add(LIST_ITEM_BYTES).saturating_add(strings).saturating_add(strings_bytes(&d.features))
        });
        env(ctx)?.charge(bytes)?;
        Ok(line
            .deps
            .iter()
            .cloned()
            .map(|d| {
                let (name, alias) = match d.package {
                    Some(real) => (real, Some(d.name)),
                    None => (d.name, None),
                };
                Dependency {
                    kind: match d.kind.as_str() {
                        "dev" => DependencyKind::Dev,
                        "build" => DependencyKind::Build,
                        _ => DependencyKind::Normal,
                    },
                    name,
                    alias,
                    req: d.req,
                    target: d.target,
                    optional: d.optional,
                    default_features: d.default_features,
                    features: d.features,
                    registry: d.registry,
                }
            })
            .collect())
    }

    /// Downloads of this version.
    async fn downloads(&self, ctx: &Context<'_>) -> Res<u64> {
        let stats = env(ctx)?.loaders.load_one(DownloadsKey(self.norm.clone())).await?.unwrap_or_default();
        Ok(stats.of_version(&self.record.vers))
    }

    /// README as published (Markdown), if any.
    #[graphql(complexity = "README_COST")]
    async fn readme(&self, ctx: &Context<'_>) -> Res<Option<String>> {
        readme_text(ctx, &self.norm, &self.record).await
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
