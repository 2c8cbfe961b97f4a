//! Import of existing `.crate` files (`raktar import`): the publish metadata is rebuilt from the
//! crate's own packaged `Cargo.toml` (the normalized manifest cargo writes into every `.crate`),
//! exactly as cargo would have sent it, then validated and committed by the same code as a publish.
//!
//! # Dependencies and registries
//! In a packaged manifest a dependency without `registry-index` is a crates-io dependency, and one
//! with `registry-index` comes from that registry. In the publish metadata (and the index) `null`
//! means "this registry" and a URL means "another registry". An import records:
//! - by default, every dependency with its registry URL: crates-io dependencies get the configured
//!   canonical crates-io index URL ([`ImportSettings::upstream_index`]), exactly what cargo sends
//!   when publishing to a registry other than crates-io. The imported crates then build against
//!   this registry, with their dependencies fetched from crates-io (or wherever they point).
//! - in mirror mode ([`ImportSettings::mirror_of`]), dependencies on the mirrored registry as
//!   same-registry (`null`), exactly as that registry's own index lists them. That is what source
//!   replacement (`[source.crates-io] replace-with = ...`) needs: the replacement index must look
//!   like the replaced one, and a project's whole dependency tree then resolves from this registry.
//!
//! Imports are not authorized per crate (an administrator runs them); every crate they create gets
//! the given owner. Dependency existence is not checked per crate in mirror mode (files come in any
//! order): [`Registry::unresolved_dependencies`] reports the gaps afterwards.

mod cfg;
mod crate_file;
mod manifest;

use std::collections::HashMap;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::domain::{CrateName, DomainError, DomainResult, Login, NormalizedName};
use crate::model::IndexLine;

use self::crate_file::read_archive;
use self::manifest::metadata_from_manifest;
use super::Registry;
use super::archive::ArchiveError;
use super::publish::{PublishError, Publisher, validate, version_identity};
use crate::domain::names::truncate_for_message;

/// How dependencies of imported crates are recorded (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSettings {
    /// The canonical index URL of crates-io, as cargo writes it in the `registry` field of
    /// crates-io dependencies. A dependency without `registry-index` in a packaged manifest refers
    /// to it. Comes from configuration: never built into the code.
    pub upstream_index: String,
    /// Mirror mode: dependencies on the registry with this index URL are recorded as same-registry
    /// (`null`). Usually the same as `upstream_index` (a crates-io mirror).
    pub mirror_of: Option<String>,
}

impl ImportSettings {
    /// The `registry` value of a dependency on the registry at `url`.
    fn registry_field(&self, url: &str) -> Option<String> {
        match &self.mirror_of {
            Some(mirrored) if same_index_url(mirrored, url) => None,
            _ => Some(url.to_owned()),
        }
    }
}

/// Index URLs compare equal up to a trailing `/`.
fn same_index_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// Why a file was not imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SkipReason {
    /// The same version with the same checksum is already in the registry.
    AlreadyPresent,
    /// Not a readable `.crate` (gzip + tar with a `Cargo.toml`), or it fails the publish checks on
    /// archives.
    InvalidArchive,
    /// The file name or the archive's directory does not match the manifest's name and version.
    NameMismatch,
    /// The packaged manifest does not give valid publish metadata (names, versions, features,
    /// limits).
    InvalidMetadata,
    /// The file or its unpacked contents exceed the configured limits.
    TooLarge,
    /// The registry holds a different `.crate` for this version, or the crate under another
    /// spelling.
    Conflict,
    /// A same-registry dependency is missing (default mode only; mirror mode checks at the end).
    MissingDependency,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::AlreadyPresent => "already present",
            SkipReason::InvalidArchive => "invalid archive",
            SkipReason::NameMismatch => "name/version mismatch",
            SkipReason::InvalidMetadata => "invalid metadata",
            SkipReason::TooLarge => "too large",
            SkipReason::Conflict => "conflict",
            SkipReason::MissingDependency => "missing dependency",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of importing one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportResult {
    Imported { name: String, vers: String, cksum: String },
    Skipped { reason: SkipReason, detail: String },
}

fn skipped(reason: SkipReason, detail: impl Into<String>) -> ImportResult {
    ImportResult::Skipped { reason, detail: detail.into() }
}

/// A same-registry dependency of an imported version that no version in the registry satisfies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnresolvedDependency {
    /// The dependent crate and version.
    pub krate: String,
    pub vers: String,
    /// The dependency's real crate name, requirement and kind (`normal`, `build`, `dev`).
    pub dependency: String,
    pub req: String,
    pub kind: String,
    /// True when the crate exists but no version matches the requirement.
    pub crate_exists: bool,
}

impl Registry {
    /// Imports one `.crate` file for `owner` (who must exist). `file_name`, when it ends in
    /// `.crate`, must be `{name}-{version}.crate`. `actor` is recorded in the audit event.
    /// Returns `Err` only for failures of the stores (the import should stop); every problem with
    /// the file itself is an [`ImportResult::Skipped`].
    pub async fn import_crate(
        &self,
        owner: &Login,
        actor: &str,
        file_name: Option<&str>,
        bytes: Bytes,
        settings: &ImportSettings,
    ) -> DomainResult<ImportResult> {
        let limits = &self.config.limits;
        if bytes.len() as u64 > limits.max_crate_bytes {
            return Ok(skipped(
                SkipReason::TooLarge,
                format!(
                    "{} bytes; the limit is {} bytes (`[limits] max_crate_bytes`)",
                    bytes.len(),
                    limits.max_crate_bytes
                ),
            ));
        }
        let archive = {
            let bytes = bytes.clone();
            let max = limits.max_unpacked_bytes;
            tokio::task::spawn_blocking(move || read_archive(&bytes, max))
                .await
                .map_err(|e| DomainError::internal(format!("archive reading task failed: {e}")))?
        };
        let archive = match archive {
            Ok(a) => a,
            Err(ArchiveError::TooLarge(msg)) => return Ok(skipped(SkipReason::TooLarge, msg)),
            Err(ArchiveError::Invalid(msg)) => return Ok(skipped(SkipReason::InvalidArchive, msg)),
        };
        let meta = match metadata_from_manifest(&archive.manifest, archive.readme, settings) {
            Ok(meta) => meta,
            Err(msg) => return Ok(skipped(SkipReason::InvalidMetadata, msg)),
        };
        let expected = format!("{}-{}", meta.name, meta.vers);
        if archive.top != expected {
            return Ok(skipped(
                SkipReason::NameMismatch,
                format!(
                    "the archive's directory is `{}` but its manifest says `{expected}`",
                    truncate_for_message(&archive.top)
                ),
            ));
        }
        if let Some(file) = file_name.filter(|f| f.ends_with(".crate"))
            && file != format!("{expected}.crate")
        {
            return Ok(skipped(
                SkipReason::NameMismatch,
                format!("the file is named `{}` but holds `{expected}`", truncate_for_message(file)),
            ));
        }
        let v = match validate(meta, limits) {
            Ok(v) => v,
            Err(PublishError::TooLarge(msg)) => return Ok(skipped(SkipReason::TooLarge, msg)),
            Err(PublishError::Domain(e)) => return Err(e),
            Err(e) => return Ok(skipped(SkipReason::InvalidMetadata, e.to_string())),
        };
        let cksum = hex::encode(Sha256::digest(&bytes));
        if let Some(result) = self.existing_version(&v.name, v.version.as_str(), &cksum).await? {
            return Ok(result);
        }
        let pkg = match self.verify_package(&v, bytes.clone()).await {
            Ok(pkg) => pkg,
            Err(PublishError::TooLarge(msg)) => return Ok(skipped(SkipReason::TooLarge, msg)),
            Err(PublishError::InvalidArchive(msg)) => return Ok(skipped(SkipReason::InvalidArchive, msg)),
            Err(e) => return Err(e.into()),
        };
        if settings.mirror_of.is_none()
            && let Err(e) = self.check_local_deps(&v).await
        {
            return match e {
                PublishError::MissingDependency(msg) => Ok(skipped(SkipReason::MissingDependency, msg)),
                e => Err(e.into()),
            };
        }
        match self.commit_version(Publisher::Import { owner, actor }, &v, &pkg, bytes, None).await {
            Ok(outcome) => Ok(ImportResult::Imported { name: outcome.name, vers: outcome.vers, cksum: outcome.cksum }),
            // Lost a race with another writer of this version: report what is there now.
            Err(PublishError::Duplicate(msg) | PublishError::Contention(msg)) => Ok(self
                .existing_version(&v.name, v.version.as_str(), &cksum)
                .await?
                .unwrap_or_else(|| skipped(SkipReason::Conflict, msg))),
            Err(PublishError::NameSpelling(msg)) => Ok(skipped(SkipReason::Conflict, msg)),
            Err(e) => Err(e.into()),
        }
    }

    /// `Some` when the version (ignoring build metadata) or the crate under another spelling is
    /// already in the registry.
    async fn existing_version(&self, name: &CrateName, vers: &str, cksum: &str) -> DomainResult<Option<ImportResult>> {
        let Some(state) = self.load_crate_state(&name.normalized()).await? else {
            return Ok(None);
        };
        if state.summary.name != name.as_str() {
            return Ok(Some(skipped(
                SkipReason::Conflict,
                format!("the registry holds this crate as `{}`, not `{name}`", state.summary.name),
            )));
        }
        let identity = version_identity(vers);
        let Some(existing) = state.versions.iter().find(|r| version_identity(&r.vers) == identity) else {
            return Ok(None);
        };
        Ok(Some(if existing.vers == vers && existing.cksum == cksum {
            skipped(SkipReason::AlreadyPresent, format!("`{name}@{vers}` is already in the registry"))
        } else if existing.vers != vers {
            skipped(
                SkipReason::Conflict,
                format!(
                    "`{name}@{vers}` is the same version as the registry's `{}` (build metadata differs)",
                    existing.vers
                ),
            )
        } else {
            skipped(
                SkipReason::Conflict,
                format!("the registry holds a different `.crate` for `{name}@{vers}` (checksum {})", existing.cksum),
            )
        }))
    }

    /// Same-registry dependencies of the given versions (`(name, vers)`) that no version in the
    /// registry satisfies (yanked versions count: a lockfile may still use them).
    pub async fn unresolved_dependencies(
        &self,
        versions: &[(String, String)],
    ) -> DomainResult<Vec<UnresolvedDependency>> {
        let mut known: HashMap<NormalizedName, Option<Vec<semver::Version>>> = HashMap::new();
        let mut records_of: HashMap<NormalizedName, Vec<crate::model::VersionRecord>> = HashMap::new();
        let mut out = Vec::new();
        for (name, vers) in versions {
            let Ok(crate_name) = CrateName::parse(name) else { continue };
            let norm = crate_name.normalized();
            if !records_of.contains_key(&norm) {
                let records = self.load_versions(&norm).await?;
                records_of.insert(norm.clone(), records);
            }
            let Some(record) = records_of.get(&norm).and_then(|r| r.iter().find(|r| r.vers == *vers)) else {
                continue;
            };
            let line: IndexLine = serde_json::from_str(&record.line)
                .map_err(|e| DomainError::internal(format!("stored index line of {name}@{vers}: {e}")))?;
            for dep in line.deps.iter().filter(|d| d.registry.is_none()) {
                let real = dep.package.as_deref().unwrap_or(&dep.name);
                let dep_norm = NormalizedName::from_stored(real);
                if !known.contains_key(&dep_norm) {
                    let versions = match self.load_crate_state(&dep_norm).await? {
                        Some(state) => {
                            Some(state.versions.iter().filter_map(|r| semver::Version::parse(&r.vers).ok()).collect())
                        }
                        None => None,
                    };
                    known.insert(dep_norm.clone(), versions);
                }
                let available = known.get(&dep_norm).and_then(Option::as_ref);
                let satisfied = match (available, semver::VersionReq::parse(&dep.req)) {
                    (Some(list), Ok(req)) => list.iter().any(|v| req.matches(v)),
                    (Some(list), Err(_)) => !list.is_empty(),
                    (None, _) => false,
                };
                if !satisfied {
                    out.push(UnresolvedDependency {
                        krate: name.clone(),
                        vers: vers.clone(),
                        dependency: real.to_owned(),
                        req: dep.req.clone(),
                        kind: dep.kind.clone(),
                        crate_exists: available.is_some(),
                    });
                }
            }
        }
        Ok(out)
    }
}
