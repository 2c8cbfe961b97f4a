//! Read models for the API edges: a version as the UI shows it ([`VersionView`]: the stored
//! record with its index line already parsed into features and dependencies, and who yanked it
//! when) and the crates that depend on a crate with their requirement ([`DependentView`]). The
//! edges map these and never parse stored formats themselves.

use serde::Deserialize;

/// The role of a user, part of [`UserView`].
pub use crate::model::Role;

use crate::domain::{DomainError, DomainResult, NormalizedName};
use crate::model::{CrateRecord, IndexLine, VersionRecord, keys};
use crate::store::{Query, query_all};

use super::{Principal, Registry};

/// Attribute of a version item: when it was yanked (RFC 3339), absent when not yanked.
pub(crate) const YANKED_AT_ATTR: &str = "yanked_at";
/// Attribute of a version item: who yanked it (a login), absent when not yanked.
pub(crate) const YANKED_BY_ATTR: &str = "yanked_by";

/// When a dependency is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyKind {
    Normal,
    Dev,
    Build,
}

impl DependencyKind {
    fn parse(kind: &str) -> Self {
        match kind {
            "dev" => DependencyKind::Dev,
            "build" => DependencyKind::Build,
            _ => DependencyKind::Normal,
        }
    }
}

/// A dependency of a version, as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyView {
    /// The crate depended on (its real name, also when renamed).
    pub name: String,
    /// The name the dependent uses for it, when renamed.
    pub alias: Option<String>,
    pub req: String,
    pub kind: DependencyKind,
    pub target: Option<String>,
    pub optional: bool,
    pub default_features: bool,
    pub features: Vec<String>,
    /// Index URL of another registry; `None` for this registry.
    pub registry: Option<String>,
}

/// Where a version's README is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ReadmeSource {
    None,
    Inline(String),
    Blob(String),
}

/// A published version as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionView {
    /// Exact version string (with build metadata).
    pub vers: String,
    pub yanked: bool,
    /// When it was yanked (RFC 3339), if it is yanked and the yank was recorded with its time.
    pub yanked_at: Option<String>,
    /// Login of who yanked it, under the same conditions.
    pub yanked_by: Option<String>,
    pub cksum: String,
    pub size: u64,
    pub unpacked_size: u64,
    pub pubtime: String,
    pub publisher: String,
    pub description: Option<String>,
    pub license: Option<String>,
    pub rust_version: Option<String>,
    pub authors: Vec<String>,
    pub homepage: Option<String>,
    pub repository: Option<String>,
    pub documentation: Option<String>,
    pub keywords: Vec<String>,
    pub categories: Vec<String>,
    /// The `links` manifest key.
    pub native_library: Option<String>,
    /// Every feature (`features` and `features2` of the index line) and what it enables.
    pub features: Vec<(String, Vec<String>)>,
    pub dependencies: Vec<DependencyView>,
    readme: ReadmeSource,
}

/// The yank marks of a version item.
#[derive(Deserialize, Default)]
struct YankMarks {
    #[serde(default)]
    yanked_at: Option<String>,
    #[serde(default)]
    yanked_by: Option<String>,
}

impl VersionView {
    fn build(record: VersionRecord, marks: YankMarks) -> DomainResult<Self> {
        let line: IndexLine = serde_json::from_str(&record.line).map_err(|e| {
            DomainError::internal(format!("stored index line of version {} does not parse: {e}", record.vers))
        })?;
        let mut features: Vec<(String, Vec<String>)> = line.features.into_iter().collect();
        features.extend(line.features2.unwrap_or_default());
        let dependencies = line
            .deps
            .into_iter()
            .map(|d| {
                let (name, alias) = match d.package {
                    Some(real) => (real, Some(d.name)),
                    None => (d.name, None),
                };
                DependencyView {
                    name,
                    alias,
                    req: d.req,
                    kind: DependencyKind::parse(&d.kind),
                    target: d.target,
                    optional: d.optional,
                    default_features: d.default_features,
                    features: d.features,
                    registry: d.registry,
                }
            })
            .collect();
        let readme = match (record.readme, record.readme_blob) {
            (Some(text), _) => ReadmeSource::Inline(text),
            (None, Some(key)) => ReadmeSource::Blob(key),
            (None, None) => ReadmeSource::None,
        };
        let (yanked_at, yanked_by) = if record.yanked { (marks.yanked_at, marks.yanked_by) } else { (None, None) };
        Ok(Self {
            vers: record.vers,
            yanked: record.yanked,
            yanked_at,
            yanked_by,
            cksum: record.cksum,
            size: record.size,
            unpacked_size: record.unpacked_size,
            pubtime: record.pubtime,
            publisher: record.publisher,
            description: record.description,
            license: record.license,
            rust_version: record.rust_version,
            authors: record.authors,
            homepage: record.homepage,
            repository: record.repository,
            documentation: record.documentation,
            keywords: record.keywords,
            categories: record.categories,
            native_library: line.links,
            features,
            dependencies,
            readme,
        })
    }

    /// Whether the version has a README at all (without reading it).
    pub fn has_readme(&self) -> bool {
        self.readme != ReadmeSource::None
    }
}

/// A crate that depends on another, with how.
#[derive(Debug, Clone)]
pub struct DependentView {
    /// The dependent crate.
    pub krate: CrateView,
    /// The dependent's version that declares the dependency (its highest version).
    pub version: String,
    pub req: String,
    pub kind: DependencyKind,
    pub optional: bool,
    pub target: Option<String>,
}

/// A page of dependents and the total.
#[derive(Debug, Clone, Default)]
pub struct DependentsPage {
    pub dependents: Vec<DependentView>,
    pub total: usize,
}

impl Registry {
    /// Every version of a crate as the API shows it, in publish order (one partition query;
    /// empty for unknown crates).
    pub async fn version_views(
        &self,
        principal: Option<&Principal>,
        norm: &NormalizedName,
    ) -> DomainResult<Vec<VersionView>> {
        self.check_read(principal)?;
        let q = Query::partition(keys::crate_pk(norm)).prefix(keys::VERSION_PREFIX);
        let mut versions = Vec::new();
        for item in query_all(self.items.as_ref(), &q).await? {
            let record: VersionRecord = item.to_entity()?;
            let marks: YankMarks = item.to_entity().unwrap_or_default();
            versions.push((record.seq, VersionView::build(record, marks)?));
        }
        versions.sort_by_key(|(seq, _)| *seq);
        Ok(versions.into_iter().map(|(_, v)| v).collect())
    }

    /// The README of a version view: inline, or read from the blob store.
    pub async fn readme_of(
        &self,
        principal: Option<&Principal>,
        version: &VersionView,
    ) -> DomainResult<Option<String>> {
        match &version.readme {
            ReadmeSource::None => {
                self.check_read(principal)?;
                Ok(None)
            }
            ReadmeSource::Inline(text) => {
                self.check_read(principal)?;
                Ok(Some(text.clone()))
            }
            ReadmeSource::Blob(key) => self.readme_blob(principal, key).await,
        }
    }

    /// Crates of this registry whose highest version depends on `norm` (any kind), by name, with
    /// the requirement and kind of that dependency: `limit` from `offset` (one partition query
    /// per dependent on the page).
    pub async fn dependents_of(
        &self,
        principal: Option<&Principal>,
        norm: &NormalizedName,
        offset: usize,
        limit: usize,
    ) -> DomainResult<DependentsPage> {
        let page = self.dependents(principal, norm, offset, limit).await?;
        let mut dependents = Vec::with_capacity(page.hits.len());
        for hit in page.hits {
            let Some(summary) = hit.summary else { continue };
            let dep_norm = NormalizedName::from_stored(&summary.name);
            let versions = self.version_views(principal, &dep_norm).await?;
            let Some(v) = versions.iter().find(|v| v.vers == summary.max_version) else { continue };
            let Some(d) =
                v.dependencies.iter().find(|d| d.registry.is_none() && NormalizedName::from_stored(&d.name) == *norm)
            else {
                continue;
            };
            dependents.push(DependentView {
                version: v.vers.clone(),
                req: d.req.clone(),
                kind: d.kind,
                optional: d.optional,
                target: d.target.clone(),
                krate: CrateView::from(summary.as_ref()),
            });
        }
        Ok(DependentsPage { dependents, total: page.total })
    }
}

/// A crate as the API shows it (the summary of its highest version, without storage fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateView {
    /// Canonical spelling (as first published).
    pub name: String,
    pub description: Option<String>,
    pub keywords: Vec<String>,
    pub categories: Vec<String>,
    pub license: Option<String>,
    pub homepage: Option<String>,
    pub repository: Option<String>,
    pub documentation: Option<String>,
    /// Highest non-yanked version (highest version when all are yanked).
    pub max_version: String,
    /// Versions ever published.
    pub version_count: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&CrateRecord> for CrateView {
    fn from(r: &CrateRecord) -> Self {
        Self {
            name: r.name.clone(),
            description: r.description.clone(),
            keywords: r.keywords.clone(),
            categories: r.categories.clone(),
            license: r.license.clone(),
            homepage: r.homepage.clone(),
            repository: r.repository.clone(),
            documentation: r.documentation.clone(),
            max_version: r.max_version.clone(),
            version_count: r.version_count,
            created_at: r.created_at.clone(),
            updated_at: r.updated_at.clone(),
        }
    }
}

/// A user as the API shows it: never the password hash or identity bindings. The e-mail address
/// is here; the edge shows it only to callers [`super::crates::sees_private_details`] allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    pub id: u32,
    pub login: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Role,
    pub disabled: bool,
    pub created_at: String,
}

impl From<&crate::model::UserRecord> for UserView {
    fn from(u: &crate::model::UserRecord) -> Self {
        Self {
            id: u.id,
            login: u.login.clone(),
            name: u.name.clone(),
            email: u.email.clone(),
            role: u.role,
            disabled: u.disabled,
            created_at: u.created_at.clone(),
        }
    }
}

impl From<crate::model::UserRecord> for UserView {
    fn from(u: crate::model::UserRecord) -> Self {
        Self::from(&u)
    }
}

impl super::search::SearchHit {
    /// The crate of this hit as the API shows it, when the catalog had its summary.
    pub fn view(&self) -> Option<CrateView> {
        self.summary.as_deref().map(CrateView::from)
    }
}

impl Registry {
    /// A crate as the API shows it (any spelling of the name leads to its normalized form).
    pub async fn crate_view(
        &self,
        principal: Option<&Principal>,
        norm: &NormalizedName,
    ) -> DomainResult<Option<CrateView>> {
        Ok(self.crate_summary(principal, norm).await?.as_ref().map(CrateView::from))
    }

    /// A user as the API shows it.
    pub async fn user_view(
        &self,
        principal: Option<&Principal>,
        login: &crate::domain::Login,
    ) -> DomainResult<Option<UserView>> {
        Ok(self.user_by_login(principal, login).await?.map(UserView::from))
    }
}
