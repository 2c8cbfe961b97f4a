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

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::domain::{CrateName, DomainError, DomainResult, Login, NormalizedName};
use crate::model::IndexLine;

use super::Registry;
use super::archive::{self, ArchiveError, EntryKind, Flow};
use super::publish::{PublishDep, PublishError, PublishMetadata, Publisher, validate, version_identity};
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

/// Largest README read from an archive (the publish metadata JSON is bounded the same way).
const MAX_README: u64 = 1024 * 1024;
/// Largest packaged `Cargo.toml` read.
const MAX_MANIFEST: u64 = 1024 * 1024;
/// README files cargo picks when the manifest names none (in this order).
const DEFAULT_READMES: [&str; 3] = ["README.md", "README.txt", "README"];

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

// ---------------------------------------------------------------------------------------------
// Reading the archive

/// What an import needs from a `.crate`: its top directory, manifest and README.
#[derive(Debug)]
struct CrateArchive {
    /// The first path component of the archive's entries (`{name}-{version}` in a valid crate).
    top: String,
    manifest: toml::Table,
    /// The README as cargo would send it: `(path in the package, contents)`.
    readme: Option<(String, String)>,
}

/// An entry looked for in an archive.
#[derive(Debug)]
enum Entry {
    Missing,
    Found(Vec<u8>),
    /// Present but larger than the bound.
    Oversized,
}

/// Reads the entry `pick` selects (by path) with the shared bounded walker, which bounds the
/// unpacked bytes walked through and every extension header. Returns the archive's top directory
/// and the entry (at most `max_len` bytes).
fn find_entry(
    bytes: &[u8],
    max_unpacked: u64,
    max_len: u64,
    pick: &dyn Fn(&str, &str) -> bool,
) -> Result<(String, Entry), ArchiveError> {
    let mut top: Option<String> = None;
    let mut found = Entry::Missing;
    archive::walk(bytes, max_unpacked, &mut |entry| {
        let first = entry.path.split('/').next().unwrap_or_default().to_owned();
        let top = top.get_or_insert(first);
        if entry.kind == EntryKind::File && pick(top, &entry.path) {
            found = match entry.read_bounded(max_len)? {
                Some(data) => Entry::Found(data),
                None => Entry::Oversized,
            };
            return Ok(Flow::Stop);
        }
        Ok(Flow::Continue)
    })?;
    Ok((top.unwrap_or_default(), found))
}

/// Reads the manifest and the README of a `.crate` (two bounded passes over the archive).
fn read_archive(bytes: &[u8], max_unpacked: u64) -> Result<CrateArchive, ArchiveError> {
    let (top, manifest) =
        find_entry(bytes, max_unpacked, MAX_MANIFEST, &|top, path| path == format!("{top}/Cargo.toml"))?;
    let manifest = match manifest {
        Entry::Found(manifest) => manifest,
        Entry::Oversized => return Err(ArchiveError::Invalid("Cargo.toml is too large".into())),
        Entry::Missing if top.is_empty() => return Err(ArchiveError::Invalid("the archive is empty".into())),
        Entry::Missing => {
            return Err(ArchiveError::Invalid(format!("`{}/Cargo.toml` is missing", truncate_for_message(&top))));
        }
    };
    let text = String::from_utf8(manifest).map_err(|_| ArchiveError::Invalid("Cargo.toml is not UTF-8".into()))?;
    let manifest: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        ArchiveError::Invalid(format!(
            "the packaged Cargo.toml does not parse ({})",
            truncate_for_message(&e.to_string())
        ))
    })?;

    let candidates: Vec<String> = match manifest.get("package").and_then(|p| p.get("readme")) {
        Some(toml::Value::String(path)) => vec![normalize_package_path(path)],
        Some(toml::Value::Boolean(true)) => vec!["README.md".to_owned()],
        Some(_) => Vec::new(),
        None => DEFAULT_READMES.iter().map(|s| (*s).to_owned()).collect(),
    };
    let mut readme = None;
    for candidate in candidates {
        let want = format!("{top}/{candidate}");
        match find_entry(bytes, max_unpacked, MAX_README, &|_, path| path == want)?.1 {
            Entry::Found(found) => {
                readme = Some((candidate, String::from_utf8_lossy(&found).into_owned()));
                break;
            }
            // Too large to keep: the version is imported without its README (cargo would have sent
            // it, but the publish metadata is bounded in size too).
            Entry::Oversized => {
                tracing::warn!(readme = %candidate, "README larger than {MAX_README} bytes; imported without it");
                break;
            }
            Entry::Missing => {}
        }
    }
    Ok(CrateArchive { top, manifest, readme })
}

/// A path relative to the package root as it appears in the archive (`./a/b` -> `a/b`).
fn normalize_package_path(path: &str) -> String {
    path.split('/').filter(|seg| !seg.is_empty() && *seg != ".").collect::<Vec<_>>().join("/")
}

// ---------------------------------------------------------------------------------------------
// Manifest -> publish metadata (what cargo's `publish` sends)

fn string_field(table: &toml::Table, key: &str, what: &str) -> Result<Option<String>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{what}.{key}` must be a string (is the manifest normalized?)")),
    }
}

fn string_list(table: &toml::Table, key: &str, what: &str) -> Result<Vec<String>, String> {
    match table.get(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(values)) => values
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("`{what}.{key}` must list strings")))
            .collect(),
        Some(_) => Err(format!("`{what}.{key}` must be a list of strings (is the manifest normalized?)")),
    }
}

/// Builds the publish metadata cargo would send for this packaged manifest. `readme` is the README
/// found in the archive (path in the package, contents).
fn metadata_from_manifest(
    manifest: &toml::Table,
    readme: Option<(String, String)>,
    settings: &ImportSettings,
) -> Result<PublishMetadata, String> {
    let package = match manifest.get("package").or_else(|| manifest.get("project")) {
        Some(toml::Value::Table(t)) => t,
        _ => return Err("the packaged Cargo.toml has no [package]".into()),
    };
    let p = "package";
    let name = string_field(package, "name", p)?.ok_or("the packaged Cargo.toml has no package name")?;
    let vers = string_field(package, "version", p)?.ok_or("the packaged Cargo.toml has no package version")?;

    let mut deps = Vec::new();
    collect_deps(manifest, None, settings, &mut deps)?;
    if let Some(targets) = manifest.get("target") {
        let targets = targets.as_table().ok_or("`target` must be a table")?;
        // cargo walks targets in key order (a sorted map).
        let sorted: BTreeMap<&String, &toml::Value> = targets.iter().collect();
        for (platform, table) in sorted {
            let table = table.as_table().ok_or_else(|| format!("`target.{platform}` must be a table"))?;
            collect_deps(table, Some(&normalize_platform(platform)), settings, &mut deps)?;
        }
    }

    let features = match manifest.get("features") {
        None => BTreeMap::new(),
        Some(toml::Value::Table(t)) => t
            .iter()
            .map(|(k, v)| {
                let values = v
                    .as_array()
                    .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| format!("feature `{k}` must be a list of strings"))?;
                Ok((k.clone(), values))
            })
            .collect::<Result<_, String>>()?,
        Some(_) => return Err("`features` must be a table".into()),
    };

    let (readme_file, readme) = match readme {
        Some((path, contents)) => (Some(path), Some(contents)),
        None => (None, None),
    };
    Ok(PublishMetadata {
        name,
        vers,
        deps,
        features,
        authors: string_list(package, "authors", p)?,
        description: string_field(package, "description", p)?,
        documentation: string_field(package, "documentation", p)?,
        homepage: string_field(package, "homepage", p)?,
        readme,
        readme_file,
        keywords: string_list(package, "keywords", p)?,
        categories: string_list(package, "categories", p)?,
        license: string_field(package, "license", p)?,
        license_file: string_field(package, "license-file", p)?,
        repository: string_field(package, "repository", p)?,
        links: string_field(package, "links", p)?,
        rust_version: string_field(package, "rust-version", p)?,
    })
}

/// Appends the dependencies of one table (the manifest root or a `target.X` table) in cargo's
/// order: normal, dev, build for the root; normal, build, dev for a target; each sorted by key.
fn collect_deps(
    table: &toml::Table,
    platform: Option<&str>,
    settings: &ImportSettings,
    out: &mut Vec<PublishDep>,
) -> Result<(), String> {
    let kinds: [(&str, &str, &str); 3] = if platform.is_none() {
        [
            ("dependencies", "dependencies", "normal"),
            ("dev-dependencies", "dev_dependencies", "dev"),
            ("build-dependencies", "build_dependencies", "build"),
        ]
    } else {
        [
            ("dependencies", "dependencies", "normal"),
            ("build-dependencies", "build_dependencies", "build"),
            ("dev-dependencies", "dev_dependencies", "dev"),
        ]
    };
    for (key, legacy_key, kind) in kinds {
        // The hyphenated spelling wins over the legacy underscore one (as in cargo).
        let Some(deps) = table.get(key).or_else(|| table.get(legacy_key)) else { continue };
        let deps = deps.as_table().ok_or_else(|| format!("`{key}` must be a table"))?;
        let sorted: BTreeMap<&String, &toml::Value> = deps.iter().collect();
        for (toml_name, spec) in sorted {
            if let Some(dep) = dependency(toml_name, spec, kind, platform, settings)? {
                out.push(dep);
            }
        }
    }
    Ok(())
}

/// One dependency as cargo sends it; `None` for a dev-dependency without a version (cargo drops
/// those when publishing).
fn dependency(
    toml_name: &str,
    spec: &toml::Value,
    kind: &str,
    platform: Option<&str>,
    settings: &ImportSettings,
) -> Result<Option<PublishDep>, String> {
    let empty = toml::Table::new();
    let (version, table) = match spec {
        toml::Value::String(v) => (Some(v.clone()), &empty),
        toml::Value::Table(t) => (string_field(t, "version", toml_name)?, t),
        _ => return Err(format!("dependency `{toml_name}` must be a version string or a table")),
    };
    let Some(version) = version else {
        if kind == "dev" {
            return Ok(None);
        }
        return Err(format!("dependency `{toml_name}` has no version"));
    };
    // cargo sends the requirement as it parsed it (`1` -> `^1`).
    let version_req = semver::VersionReq::parse(version.trim())
        .map(|r| r.to_string())
        .map_err(|e| format!("dependency `{toml_name}` has an invalid version requirement `{version}`: {e}"))?;
    let bool_field = |keys: &[&str], default: bool| -> Result<bool, String> {
        match keys.iter().find_map(|k| table.get(*k)) {
            None => Ok(default),
            Some(toml::Value::Boolean(b)) => Ok(*b),
            Some(_) => Err(format!("`{}` of dependency `{toml_name}` must be true or false", keys[0])),
        }
    };
    let package = string_field(table, "package", toml_name)?;
    let registry_url = match (
        string_field(table, "registry-index", toml_name)?,
        string_field(table, "registry", toml_name)?,
    ) {
        (Some(url), _) => url,
        (None, Some(name)) => {
            return Err(format!(
                "dependency `{toml_name}` names the registry `{name}` by name; packaged manifests give the index URL (`registry-index`)"
            ));
        }
        (None, None) => settings.upstream_index.clone(),
    };
    Ok(Some(PublishDep {
        name: package.clone().unwrap_or_else(|| toml_name.to_owned()),
        version_req,
        features: string_list(table, "features", toml_name)?,
        optional: bool_field(&["optional"], false)?,
        default_features: bool_field(&["default-features", "default_features"], true)?,
        target: platform.map(str::to_owned),
        kind: Some(kind.to_owned()),
        registry: settings.registry_field(&registry_url),
        explicit_name_in_toml: package.map(|_| toml_name.to_owned()),
    }))
}

/// A target key as cargo prints its platform: `cfg(...)` expressions re-printed in cargo's form
/// (`cfg(all(unix, target_os = "linux"))`), target triples unchanged. Keys that do not parse are
/// kept as written.
fn normalize_platform(key: &str) -> String {
    let trimmed = key.trim();
    let Some(inner) = trimmed.strip_prefix("cfg(").and_then(|r| r.strip_suffix(')')) else {
        return key.to_owned();
    };
    let mut parser = CfgParser { tokens: tokenize_cfg(inner), pos: 0 };
    match parser.expr() {
        Some(expr) if parser.pos == parser.tokens.len() => format!("cfg({expr})"),
        _ => key.to_owned(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum CfgToken {
    Ident(String),
    Str(String),
    Eq,
    Comma,
    Open,
    Close,
    Bad,
}

fn tokenize_cfg(s: &str) -> Vec<CfgToken> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' | '=' => {
                chars.next();
                out.push(match c {
                    '(' => CfgToken::Open,
                    ')' => CfgToken::Close,
                    ',' => CfgToken::Comma,
                    _ => CfgToken::Eq,
                });
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    value.push(c);
                }
                out.push(if closed { CfgToken::Str(value) } else { CfgToken::Bad });
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut ident = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || c == '_' || c == '#' {
                        ident.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(CfgToken::Ident(ident));
            }
            _ => {
                out.push(CfgToken::Bad);
                chars.next();
            }
        }
    }
    out
}

struct CfgParser {
    tokens: Vec<CfgToken>,
    pos: usize,
}

impl CfgParser {
    fn next(&mut self) -> Option<CfgToken> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek(&self) -> Option<&CfgToken> {
        self.tokens.get(self.pos)
    }

    /// `all(..)`, `any(..)`, `not(..)`, `name`, `name = "value"`, printed the way cargo does.
    fn expr(&mut self) -> Option<String> {
        let CfgToken::Ident(name) = self.next()? else { return None };
        match (name.as_str(), self.peek()) {
            ("all" | "any" | "not", Some(CfgToken::Open)) => {
                self.next();
                let mut parts = Vec::new();
                loop {
                    if self.peek() == Some(&CfgToken::Close) {
                        self.next();
                        break;
                    }
                    parts.push(self.expr()?);
                    match self.next()? {
                        CfgToken::Comma => {}
                        CfgToken::Close => break,
                        _ => return None,
                    }
                }
                if name == "not" && parts.len() != 1 {
                    return None;
                }
                Some(format!("{name}({})", parts.join(", ")))
            }
            (_, Some(CfgToken::Eq)) => {
                self.next();
                let CfgToken::Str(value) = self.next()? else { return None };
                Some(format!("{name} = \"{value}\""))
            }
            _ => Some(name),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const UPSTREAM: &str = "https://upstream.invalid/index";

    fn settings(mirror: bool) -> ImportSettings {
        ImportSettings { upstream_index: UPSTREAM.into(), mirror_of: mirror.then(|| UPSTREAM.into()) }
    }

    #[test]
    fn platforms_print_like_cargo() {
        assert_eq!(normalize_platform("cfg(unix)"), "cfg(unix)");
        assert_eq!(normalize_platform("cfg(all(unix,target_os=\"linux\"))"), "cfg(all(unix, target_os = \"linux\"))");
        assert_eq!(normalize_platform("cfg( not( windows ) )"), "cfg(not(windows))");
        assert_eq!(normalize_platform("x86_64-unknown-linux-gnu"), "x86_64-unknown-linux-gnu");
        assert_eq!(normalize_platform("cfg(all(unix"), "cfg(all(unix");
    }

    #[test]
    fn manifest_to_metadata() {
        let manifest: toml::Table = r#"
            [package]
            name = "demo"
            version = "1.2.3"
            description = "d"
            license = "MIT"
            keywords = ["a"]
            rust-version = "1.70"
            links = "z"

            [dependencies]
            plain = "1"
            renamed = { package = "real-name", version = ">= 1.0, < 2", optional = true, default-features = false, features = ["f"] }
            other = { version = "0.3", registry-index = "sparse+https://other.invalid/index/" }

            [dev-dependencies]
            tester = "0.1"
            pathonly = { path = "../x" }

            [build-dependencies.cc]
            version = "1.0"

            [target.'cfg(all(unix,not(target_os="macos")))'.dependencies]
            libc = "0.2"

            [features]
            default = ["x"]
            x = ["dep:renamed", "other?/feat"]
        "#
        .parse()
        .unwrap();
        let meta =
            metadata_from_manifest(&manifest, Some(("README.md".into(), "hi".into())), &settings(false)).unwrap();
        assert_eq!(meta.name, "demo");
        assert_eq!(meta.rust_version.as_deref(), Some("1.70"));
        assert_eq!(meta.readme.as_deref(), Some("hi"));
        let deps: Vec<_> = meta
            .deps
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.version_req.as_str(),
                    d.kind.as_deref().unwrap(),
                    d.registry.as_deref(),
                    d.explicit_name_in_toml.as_deref(),
                    d.target.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            deps,
            vec![
                ("other", "^0.3", "normal", Some("sparse+https://other.invalid/index/"), None, None),
                ("plain", "^1", "normal", Some(UPSTREAM), None, None),
                ("real-name", ">=1.0, <2", "normal", Some(UPSTREAM), Some("renamed"), None),
                ("tester", "^0.1", "dev", Some(UPSTREAM), None, None),
                ("cc", "^1.0", "build", Some(UPSTREAM), None, None),
                ("libc", "^0.2", "normal", Some(UPSTREAM), None, Some("cfg(all(unix, not(target_os = \"macos\")))")),
            ]
        );
        let renamed = &meta.deps[2];
        assert!(renamed.optional);
        assert!(!renamed.default_features);
        assert_eq!(renamed.features, vec!["f"]);

        // Mirror mode: upstream dependencies become same-registry; others keep their URL.
        let meta = metadata_from_manifest(&manifest, None, &settings(true)).unwrap();
        let registries: Vec<_> = meta.deps.iter().map(|d| d.registry.as_deref()).collect();
        assert_eq!(registries, vec![Some("sparse+https://other.invalid/index/"), None, None, None, None, None]);
        // The metadata passes the publish validation.
        validate(meta, &super::super::Limits::default()).unwrap();
    }

    /// A gzipped tar of `(path, contents)` entries.
    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, path, *data).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &tar).unwrap();
        gz.finish().unwrap()
    }

    const MANIFEST: &[u8] = b"[package]\nname = \"a\"\nversion = \"1.0.0\"\n";

    #[test]
    fn archives_give_manifest_and_readme() {
        // No `readme` key: cargo's default names are tried in order.
        let bytes = archive(&[("a-1.0.0/README.txt", b"txt"), ("a-1.0.0/Cargo.toml", MANIFEST)]);
        let a = read_archive(&bytes, 1 << 20).unwrap();
        assert_eq!(a.top, "a-1.0.0");
        assert_eq!(a.readme, Some(("README.txt".to_owned(), "txt".to_owned())));

        // `readme = false`: none; an explicit path with `./` is found.
        let no = archive(&[
            ("a-1.0.0/Cargo.toml", b"[package]\nname = \"a\"\nversion = \"1.0.0\"\nreadme = false\n"),
            ("a-1.0.0/README.md", b"x"),
        ]);
        assert_eq!(read_archive(&no, 1 << 20).unwrap().readme, None);
        let path = archive(&[
            ("a-1.0.0/Cargo.toml", b"[package]\nname = \"a\"\nversion = \"1.0.0\"\nreadme = \"./docs/R.md\"\n"),
            ("a-1.0.0/docs/R.md", b"docs"),
        ]);
        assert_eq!(read_archive(&path, 1 << 20).unwrap().readme, Some(("docs/R.md".to_owned(), "docs".to_owned())));

        // An oversized README is left out, not fatal.
        let big = vec![b'x'; (MAX_README + 1) as usize];
        let bytes = archive(&[("a-1.0.0/Cargo.toml", MANIFEST), ("a-1.0.0/README.md", &big)]);
        assert_eq!(read_archive(&bytes, 1 << 30).unwrap().readme, None);
    }

    #[test]
    fn broken_archives_are_errors() {
        assert!(matches!(read_archive(b"not gzip", 1 << 20), Err(ArchiveError::Invalid(_))));
        let no_manifest = archive(&[("a-1.0.0/src/lib.rs", b"")]);
        assert!(matches!(read_archive(&no_manifest, 1 << 20), Err(ArchiveError::Invalid(m)) if m.contains("missing")));
        let huge = vec![0u8; 4096];
        let bomb = archive(&[("a-1.0.0/big", &huge), ("a-1.0.0/Cargo.toml", MANIFEST)]);
        assert!(matches!(read_archive(&bomb, 1000), Err(ArchiveError::TooLarge(_))));
    }

    #[test]
    fn registry_names_are_refused() {
        let manifest: toml::Table =
            "[package]\nname = \"a\"\nversion = \"1.0.0\"\n[dependencies]\nb = { version = \"1\", registry = \"x\" }\n"
                .parse()
                .unwrap();
        let err = metadata_from_manifest(&manifest, None, &settings(false)).unwrap_err();
        assert!(err.contains("registry-index"), "{err}");
    }
}
