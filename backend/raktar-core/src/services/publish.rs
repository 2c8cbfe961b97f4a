//! Publish: the most important write. Parse, validate, verify, authorize, store the blob, then
//! commit every item in one conditional transaction.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::names::truncate_for_message;
use crate::domain::{CrateName, CrateVersion, DomainError, DomainResult, Login, NormalizedName, Scope};
use crate::model::{CrateRecord, IndexDep, IndexLine, OwnerRecord, VersionRecord, keys};
use crate::store::item::{MAX_ITEM_BYTES, item_size};
use crate::store::{Condition, Item, PutOutcome, TxOp, Update};

use super::auth::{AuthCheck, Principal};
use super::index::{CrateState, build_file, compute_max_version, etag_of, ready_file_op};
use super::{Registry, audit, clock, package};

/// Publish limits (defaults follow the public registry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest `.crate` file in bytes.
    pub max_crate_bytes: u64,
    /// Largest metadata JSON in bytes.
    pub max_json_bytes: u64,
    /// Largest unpacked size in bytes.
    pub max_unpacked_bytes: u64,
    pub max_dependencies: usize,
    pub max_features: usize,
    pub max_description_chars: usize,
    pub max_keywords: usize,
    pub max_categories: usize,
    /// READMEs up to this size stay in the version item; larger ones go to the blob store.
    pub inline_readme_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_crate_bytes: 10 * 1024 * 1024,
            max_json_bytes: 1024 * 1024,
            max_unpacked_bytes: 512 * 1024 * 1024,
            max_dependencies: 500,
            max_features: 300,
            max_description_chars: 1000,
            max_keywords: 5,
            max_categories: 5,
            inline_readme_bytes: 32 * 1024,
        }
    }
}

impl Limits {
    /// The largest publish body these limits allow (framing included).
    pub fn max_body_bytes(&self) -> u64 {
        self.max_crate_bytes + self.max_json_bytes + 8
    }
}

/// A dependency as cargo sends it in the publish metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct PublishDep {
    pub name: String,
    pub version_req: String,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default = "yes")]
    pub default_features: bool,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub registry: Option<String>,
    #[serde(default)]
    pub explicit_name_in_toml: Option<String>,
}

fn yes() -> bool {
    true
}

/// The publish metadata JSON cargo sends.
#[derive(Debug, Clone, Deserialize)]
pub struct PublishMetadata {
    pub name: String,
    pub vers: String,
    pub deps: Vec<PublishDep>,
    #[serde(default)]
    pub features: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub documentation: Option<String>,
    #[serde(default)]
    pub homepage: Option<String>,
    #[serde(default)]
    pub readme: Option<String>,
    #[serde(default)]
    pub readme_file: Option<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub license_file: Option<String>,
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub links: Option<String>,
    #[serde(default)]
    pub rust_version: Option<String>,
}

/// The result of a successful publish.
#[derive(Debug, Clone, Serialize)]
pub struct PublishOutcome {
    pub name: String,
    pub vers: String,
    pub cksum: String,
    pub warnings: PublishWarnings,
}

/// Warnings cargo prints after a publish.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublishWarnings {
    pub invalid_categories: Vec<String>,
    pub invalid_badges: Vec<String>,
    pub other: Vec<String>,
}

/// Splits the publish body: `u32 LE json length, json, u32 LE crate length, crate`.
pub fn parse_framing<'a>(body: &'a [u8], limits: &Limits) -> DomainResult<(&'a [u8], &'a [u8])> {
    fn read_u32(body: &[u8], at: usize, what: &str) -> DomainResult<u32> {
        let bytes: [u8; 4] = body.get(at..at + 4).and_then(|s| s.try_into().ok()).ok_or_else(|| {
            DomainError::bad_request(format!("invalid publish request: truncated before the {what} length"))
        })?;
        Ok(u32::from_le_bytes(bytes))
    }
    let json_len = u64::from(read_u32(body, 0, "metadata")?);
    if json_len > limits.max_json_bytes {
        return Err(DomainError::PayloadTooLarge(format!(
            "the publish metadata is {json_len} bytes; the limit is {} bytes",
            limits.max_json_bytes
        )));
    }
    let json_end = 4 + json_len as usize;
    let json = body.get(4..json_end).ok_or_else(|| {
        DomainError::bad_request(format!(
            "invalid publish request: the metadata length says {json_len} bytes but the body is shorter"
        ))
    })?;
    let crate_len = u64::from(read_u32(body, json_end, ".crate")?);
    if crate_len > limits.max_crate_bytes {
        return Err(DomainError::PayloadTooLarge(format!(
            "the .crate file is {crate_len} bytes; this registry accepts at most {} bytes",
            limits.max_crate_bytes
        )));
    }
    let crate_start = json_end + 4;
    let crate_end = crate_start + crate_len as usize;
    let krate = body.get(crate_start..crate_end).ok_or_else(|| {
        DomainError::bad_request(format!(
            "invalid publish request: the .crate length says {crate_len} bytes but the body is shorter"
        ))
    })?;
    if body.len() != crate_end {
        return Err(DomainError::bad_request(format!(
            "invalid publish request: {} unexpected bytes after the .crate file",
            body.len() - crate_end
        )));
    }
    Ok((json, krate))
}

/// Metadata after validation: every field parsed into domain types.
#[derive(Debug, Clone)]
pub struct ValidatedPublish {
    pub name: CrateName,
    pub version: CrateVersion,
    pub line_deps: Vec<IndexDep>,
    pub features: BTreeMap<String, Vec<String>>,
    pub meta: PublishMetadata,
    /// Normalized names of dependencies that must exist in this registry.
    pub local_deps: BTreeSet<NormalizedName>,
}

fn check_len(field: &str, value: &Option<String>, max: usize) -> DomainResult<()> {
    if let Some(v) = value
        && v.chars().count() > max
    {
        return Err(DomainError::bad_request(format!("`{field}` is too long: at most {max} characters are allowed")));
    }
    Ok(())
}

fn valid_feature_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else { return false };
    name.len() <= 100
        && (first.is_ascii_alphanumeric() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.'))
}

fn valid_keyword(k: &str) -> bool {
    let mut chars = k.chars();
    k.len() <= 20
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
}

/// Parses `rust_version`: `1.70` or `1.70.0`, no operator, no pre-release.
fn valid_rust_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Validates metadata against the registry's rules (names, versions, limits, dependencies, features).
pub fn validate(meta: PublishMetadata, limits: &Limits) -> DomainResult<ValidatedPublish> {
    let name = CrateName::parse(&meta.name)?;
    if name.is_reserved() {
        return Err(DomainError::bad_request(format!("the crate name `{name}` is reserved")));
    }
    let version = CrateVersion::parse(&meta.vers)?;
    check_len("description", &meta.description, limits.max_description_chars)?;
    for (field, value) in [
        ("homepage", &meta.homepage),
        ("documentation", &meta.documentation),
        ("repository", &meta.repository),
        ("license", &meta.license),
        ("license_file", &meta.license_file),
        ("readme_file", &meta.readme_file),
    ] {
        check_len(field, value, 1024)?;
    }
    if meta.keywords.len() > limits.max_keywords {
        return Err(DomainError::bad_request(format!(
            "too many keywords ({}): at most {} are allowed",
            meta.keywords.len(),
            limits.max_keywords
        )));
    }
    if let Some(k) = meta.keywords.iter().find(|k| !valid_keyword(k)) {
        return Err(DomainError::bad_request(format!(
            "invalid keyword `{}`: at most 20 ASCII letters, digits, `_`, `-` or `+`, starting with a letter or digit",
            truncate_for_message(k)
        )));
    }
    if meta.categories.len() > limits.max_categories {
        return Err(DomainError::bad_request(format!(
            "too many categories ({}): at most {} are allowed",
            meta.categories.len(),
            limits.max_categories
        )));
    }
    if meta.categories.iter().any(|c| c.is_empty() || c.len() > 100) {
        return Err(DomainError::bad_request("invalid category: categories must be 1 to 100 characters"));
    }
    if meta.authors.len() > 100 || meta.authors.iter().any(|a| a.len() > 256) {
        return Err(DomainError::bad_request("too many or too long `authors` entries"));
    }
    if let Some(links) = &meta.links
        && (links.is_empty()
            || links.len() > 64
            || !links.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(DomainError::bad_request("invalid `links` value"));
    }
    if let Some(rv) = &meta.rust_version
        && !valid_rust_version(rv)
    {
        return Err(DomainError::bad_request(format!(
            "invalid `rust-version` `{}`: use a bare version like `1.70` or `1.70.0`",
            truncate_for_message(rv)
        )));
    }
    if meta.deps.len() > limits.max_dependencies {
        return Err(DomainError::bad_request(format!(
            "too many dependencies ({}): at most {} are allowed",
            meta.deps.len(),
            limits.max_dependencies
        )));
    }

    let mut line_deps = Vec::with_capacity(meta.deps.len());
    let mut local_deps = BTreeSet::new();
    // Names a feature may refer to: every dependency (by its name in the index) -> optional?
    let mut dep_names: BTreeMap<String, bool> = BTreeMap::new();
    for dep in &meta.deps {
        let real =
            CrateName::parse(&dep.name).map_err(|e| DomainError::bad_request(format!("invalid dependency: {e}")))?;
        let req = dep.version_req.trim();
        semver::VersionReq::parse(req).map_err(|e| {
            DomainError::bad_request(format!(
                "invalid version requirement `{}` for dependency `{real}`: {e}",
                truncate_for_message(req)
            ))
        })?;
        let kind = match dep.kind.as_deref() {
            None | Some("normal") => "normal",
            Some("dev") => "dev",
            Some("build") => "build",
            Some(other) => {
                return Err(DomainError::bad_request(format!(
                    "invalid kind `{}` for dependency `{real}`: expected normal, dev or build",
                    truncate_for_message(other)
                )));
            }
        };
        if let Some(t) = &dep.target
            && (t.is_empty() || t.len() > 512)
        {
            return Err(DomainError::bad_request(format!("invalid target for dependency `{real}`")));
        }
        if let Some(r) = &dep.registry
            && (r.is_empty() || r.len() > 512 || r.chars().any(char::is_whitespace))
        {
            return Err(DomainError::bad_request(format!("invalid registry URL for dependency `{real}`")));
        }
        if dep.features.len() > limits.max_features || dep.features.iter().any(|f| f.is_empty() || f.len() > 200) {
            return Err(DomainError::bad_request(format!("invalid features for dependency `{real}`")));
        }
        let (index_name, package) = match &dep.explicit_name_in_toml {
            Some(alias) => {
                let alias = CrateName::parse(alias)
                    .map_err(|e| DomainError::bad_request(format!("invalid renamed dependency: {e}")))?;
                (alias.as_str().to_owned(), Some(real.as_str().to_owned()))
            }
            None => (real.as_str().to_owned(), None),
        };
        let entry = dep_names.entry(index_name.clone()).or_insert(false);
        *entry |= dep.optional;
        if dep.registry.is_none() {
            local_deps.insert(real.normalized());
        }
        line_deps.push(IndexDep {
            name: index_name,
            req: req.to_owned(),
            features: dep.features.clone(),
            optional: dep.optional,
            default_features: dep.default_features,
            target: dep.target.clone(),
            kind: kind.to_owned(),
            registry: dep.registry.clone(),
            package,
        });
    }

    if meta.features.len() > limits.max_features {
        return Err(DomainError::bad_request(format!(
            "too many features ({}): at most {} are allowed",
            meta.features.len(),
            limits.max_features
        )));
    }
    for (feature, values) in &meta.features {
        if !valid_feature_name(feature) {
            return Err(DomainError::bad_request(format!("invalid feature name `{}`", truncate_for_message(feature))));
        }
        if values.len() > 1000 {
            return Err(DomainError::bad_request(format!("feature `{feature}` has too many values")));
        }
        for value in values {
            check_feature_value(feature, value, &meta.features, &dep_names)?;
        }
    }

    Ok(ValidatedPublish { name, version, line_deps, features: meta.features.clone(), meta, local_deps })
}

/// A feature value must point at something that exists, or cargo marks the version invalid forever.
fn check_feature_value(
    feature: &str,
    value: &str,
    features: &BTreeMap<String, Vec<String>>,
    deps: &BTreeMap<String, bool>,
) -> DomainResult<()> {
    let err = |why: &str| {
        Err(DomainError::bad_request(format!(
            "feature `{feature}` has an invalid value `{}`: {why}",
            truncate_for_message(value)
        )))
    };
    if let Some(dep) = value.strip_prefix("dep:") {
        return match deps.get(dep) {
            Some(true) => Ok(()),
            Some(false) => err("`dep:` needs an optional dependency"),
            None => err("no such dependency"),
        };
    }
    if let Some((dep, feat)) = value.split_once('/') {
        let dep = dep.strip_suffix('?').unwrap_or(dep);
        if feat.is_empty() {
            return err("missing feature after `/`");
        }
        return if deps.contains_key(dep) { Ok(()) } else { err("no such dependency") };
    }
    if features.contains_key(value) || deps.get(value) == Some(&true) {
        Ok(())
    } else {
        err("no such feature or optional dependency")
    }
}

/// Blob key of a `.crate` file: content-addressed within the crate, so concurrent publishers of
/// different bytes never overwrite each other.
pub fn crate_blob_key(name: &NormalizedName, vers: &str, cksum: &str) -> String {
    format!("crates/{}/{}-{}-{}.crate", name.as_str(), name.as_str(), vers, cksum)
}

/// Blob key of a README too large for the version item: the version and the SHA-256 of the
/// README, recorded in the version item (`readme_blob`). Only the version that committed this key
/// refers to it, and content written under a key is the content the key names.
pub fn readme_blob_key(name: &NormalizedName, version: &CrateVersion, readme: &str) -> String {
    format!("readmes/{}/{}-{}.md", name.as_str(), version.as_str(), hex::encode(Sha256::digest(readme.as_bytes())))
}

/// How many times a publish retries after losing an optimistic-locking race on the crate summary.
const MAX_ATTEMPTS: u32 = 16;

/// Who commits a new version: a cargo publish, authorized by the token's scopes and the crate's
/// owners, or an administrator's import (`raktar import`), which is not authorized per crate and
/// makes `owner` the owner of every crate it creates.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Publisher<'a> {
    Cargo(&'a Principal),
    Import {
        /// Recorded as the publisher of each version and the owner of each new crate.
        owner: &'a Login,
        /// Who ran the import (the audit event's actor).
        actor: &'a str,
    },
}

impl Publisher<'_> {
    /// The login recorded as the version's publisher (and as the owner of a new crate).
    fn login(&self) -> &str {
        match self {
            Publisher::Cargo(principal) => principal.login(),
            Publisher::Import { owner, .. } => owner.as_str(),
        }
    }

    fn audit_actor(&self) -> &str {
        match self {
            Publisher::Cargo(principal) => principal.login(),
            Publisher::Import { actor, .. } => actor,
        }
    }

    fn audit_action(&self) -> &'static str {
        match self {
            Publisher::Cargo(_) => "publish",
            Publisher::Import { .. } => "import",
        }
    }
}

impl Registry {
    /// Publishes a crate version from a raw `PUT /api/v1/crates/new` body.
    ///
    /// Bounded work per request: the framing and the (size-limited) metadata are parsed and
    /// validated, then the token is authorized against the crate's current state (scopes, crate
    /// patterns, ownership), and only then is the `.crate` decompressed, walked and hashed.
    pub async fn publish(&self, principal: &Principal, body: Bytes) -> DomainResult<PublishOutcome> {
        let limits = &self.config.limits;
        let (json, krate) = parse_framing(&body, limits)?;
        let meta: PublishMetadata = serde_json::from_slice(json).map_err(|e| {
            DomainError::bad_request(format!("invalid publish metadata JSON: {}", truncate_for_message(&e.to_string())))
        })?;
        let v = validate(meta, limits)?;
        // Authorize before the expensive tarball walk. The commit re-checks (the state can change).
        let state = self.load_crate_state(&v.name.normalized()).await?;
        self.authorize_publish(Publisher::Cargo(principal), &v, state.as_ref())?;
        if state.is_none() {
            // A new name: the dependency-confusion guard (a no-op without an upstream).
            self.guard_new_name(principal, &v.name).await?;
        }
        if let Some(existing) = state.as_ref().and_then(|s| find_version(s, &v)) {
            return Err(duplicate_error(&v, existing));
        }
        self.check_local_deps(&v).await?;
        let pkg = self.verify_package(&v, body.slice_ref(krate)).await?;
        // The state read for authorization serves the first commit attempt (one read of the
        // crate per publish); a race with another writer fails the conditional commit and the
        // retries read it again.
        self.commit_version(Publisher::Cargo(principal), &v, &pkg, body.slice_ref(krate), Some(state)).await
    }

    /// Verifies the `.crate` of validated metadata (on the blocking pool: it unpacks the archive).
    pub(crate) async fn verify_package(
        &self,
        v: &ValidatedPublish,
        krate: Bytes,
    ) -> DomainResult<package::VerifiedPackage> {
        let (name, vers, max) =
            (v.name.as_str().to_owned(), v.version.as_str().to_owned(), self.config.limits.max_unpacked_bytes);
        tokio::task::spawn_blocking(move || package::verify(&krate, &name, &vers, max))
            .await
            .map_err(|e| DomainError::internal(format!("tarball verification task failed: {e}")))?
    }

    /// Stores the blob and commits the version (shared by publish and import): after validation,
    /// verification and the dependency check.
    pub(crate) async fn commit_version(
        &self,
        publisher: Publisher<'_>,
        v: &ValidatedPublish,
        pkg: &package::VerifiedPackage,
        krate_bytes: Bytes,
        known_state: Option<Option<CrateState>>,
    ) -> DomainResult<PublishOutcome> {
        let norm = v.name.normalized();
        let blob_key = crate_blob_key(&norm, v.version.as_str(), &pkg.cksum);
        // Publishes of one crate in this process take turns; other processes are handled by the
        // conditional transaction and bounded retries.
        let _turn = self.lock_crate(&norm).await;
        let mut written = WrittenBlobs::default();
        let result = self.commit_publish(publisher, v, pkg, krate_bytes, known_state, &mut written).await;
        if result.is_err() {
            // Every failure after a blob was written removes it again (unless a committed version
            // refers to it), so a refused publish leaves no trace.
            self.discard_blobs(&written, &norm, v, &blob_key).await;
        }
        result
    }

    async fn commit_publish(
        &self,
        publisher: Publisher<'_>,
        v: &ValidatedPublish,
        pkg: &package::VerifiedPackage,
        krate_bytes: Bytes,
        mut known_state: Option<Option<CrateState>>,
        written: &mut WrittenBlobs,
    ) -> DomainResult<PublishOutcome> {
        let limits = &self.config.limits;
        let norm = v.name.normalized();
        let blob_key = &crate_blob_key(&norm, v.version.as_str(), &pkg.cksum);
        // A README too large for the version item goes to the blob store under a key naming its
        // content; it is written only after authorization, right before the commit.
        let spilled = v
            .meta
            .readme
            .as_deref()
            .filter(|r| r.len() > limits.inline_readme_bytes)
            .map(|r| (readme_blob_key(&norm, &v.version, r), r));
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                super::backoff(attempt).await;
            }
            let state = match known_state.take() {
                Some(state) => state,
                None => self.load_crate_state(&norm).await?,
            };
            self.authorize_publish(publisher, v, state.as_ref())?;
            if let Some(existing) = state.as_ref().and_then(|s| find_version(s, v)) {
                return Err(duplicate_error(v, existing));
            }
            // Built (and size-checked) before anything is written.
            let readme_key = spilled.as_ref().map(|(key, _)| key.as_str());
            let (ops, summary, new_version) =
                self.publish_ops(publisher, v, pkg, blob_key, readme_key, state.as_ref())?;
            if let Some((key, readme)) = &spilled
                && !written.readme
                && self.blobs.put_if_absent(key, Bytes::copy_from_slice(readme.as_bytes()), "text/markdown").await?
                    == PutOutcome::Created
            {
                written.readme = true;
            }
            if !written.krate
                && self.blobs.put_if_absent(blob_key, krate_bytes.clone(), "application/gzip").await?
                    == PutOutcome::Created
            {
                written.krate = true;
            }
            match self.items.transact(ops).await {
                Ok(()) => {
                    self.after_crate_change(&norm, &summary);
                    tracing::info!(krate = %v.name, vers = %v.version, seq = new_version.seq, publisher = %publisher.login(), action = publisher.audit_action(), "published");
                    return Ok(PublishOutcome {
                        name: v.name.as_str().to_owned(),
                        vers: v.version.as_str().to_owned(),
                        cksum: pkg.cksum.clone(),
                        warnings: PublishWarnings::default(),
                    });
                }
                Err(e) if e.is_condition_failure() => {
                    tracing::debug!(attempt, krate = %v.name, vers = %v.version, version_taken = e.failed_condition_at(0), "publish lost a race; retrying");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::conflict(format!(
            "crate `{}` is being changed concurrently; please retry the publish",
            v.name
        )))
    }

    /// After a failed publish, removes the blobs this call created (the `.crate` and a spilled
    /// README) unless the committed version refers to them.
    async fn discard_blobs(&self, written: &WrittenBlobs, norm: &NormalizedName, v: &ValidatedPublish, key: &str) {
        if !written.krate && !written.readme {
            return;
        }
        // `None`: unknown (keep everything; the orphan sweep decides later).
        let committed: Option<Option<VersionRecord>> =
            match self.items.get(&keys::version(norm, &v.version.identity())).await {
                Ok(Some(item)) => item.to_entity::<VersionRecord>().ok().map(Some),
                Ok(None) => Some(None),
                Err(_) => None,
            };
        let Some(committed) = committed else { return };
        let mut doomed = Vec::new();
        if written.krate && committed.as_ref().is_none_or(|r| r.blob != key) {
            doomed.push(key.to_owned());
        }
        if written.readme
            && let Some(readme) = v.meta.readme.as_deref()
        {
            let readme_key = readme_blob_key(norm, &v.version, readme);
            if committed.as_ref().is_none_or(|r| r.readme_blob.as_deref() != Some(readme_key.as_str())) {
                doomed.push(readme_key);
            }
        }
        for doomed in doomed {
            if let Err(e) = self.blobs.delete(&doomed).await {
                tracing::warn!(error = %e, key = %doomed, "could not delete a blob of a failed publish");
            }
        }
    }

    fn authorize_publish(
        &self,
        publisher: Publisher<'_>,
        v: &ValidatedPublish,
        state: Option<&CrateState>,
    ) -> DomainResult<()> {
        // An import is an administrator's bulk action: no per-crate authorization.
        let principal = match publisher {
            Publisher::Cargo(principal) => Some(principal),
            Publisher::Import { .. } => None,
        };
        match state {
            None => match principal {
                Some(principal) => AuthCheck::scope(Scope::PublishNew).for_crate(&v.name).check(principal),
                None => Ok(()),
            },
            Some(state) => {
                if state.summary.name != v.name.as_str() {
                    return Err(DomainError::bad_request(format!(
                        "crate was previously named `{}`; publish it under that exact name",
                        state.summary.name
                    )));
                }
                match principal {
                    Some(principal) => {
                        AuthCheck::scope(Scope::PublishUpdate).for_crate(&v.name).owners(&state.owners).check(principal)
                    }
                    None => Ok(()),
                }
            }
        }
    }

    /// Dependencies from this registry must exist here (cargo could not resolve them otherwise).
    pub(crate) async fn check_local_deps(&self, v: &ValidatedPublish) -> DomainResult<()> {
        let self_norm = v.name.normalized();
        let mut seen = HashSet::new();
        for dep in &v.local_deps {
            if *dep == self_norm || !seen.insert(dep.clone()) {
                continue;
            }
            if self.items.get(&keys::crate_summary(dep)).await?.is_none() {
                let shown = v
                    .line_deps
                    .iter()
                    .map(|d| d.package.as_deref().unwrap_or(&d.name))
                    .find(|n| NormalizedName::from_stored(n) == *dep)
                    .unwrap_or(dep.as_str());
                return Err(DomainError::bad_request(format!(
                    "dependency `{shown}` does not exist in this registry; publish it first (or set `registry` for crates from another registry)"
                )));
            }
        }
        Ok(())
    }

    fn publish_ops(
        &self,
        publisher: Publisher<'_>,
        v: &ValidatedPublish,
        pkg: &package::VerifiedPackage,
        blob_key: &str,
        readme_key: Option<&str>,
        state: Option<&CrateState>,
    ) -> DomainResult<(Vec<TxOp>, CrateRecord, VersionRecord)> {
        let norm = v.name.normalized();
        let now = clock::now_string();
        let (features, features2) = IndexLine::split_features(v.features.clone());
        let line = IndexLine {
            name: v.name.as_str().to_owned(),
            vers: v.version.as_str().to_owned(),
            deps: v.line_deps.clone(),
            cksum: pkg.cksum.clone(),
            features,
            yanked: false,
            links: v.meta.links.clone(),
            v: features2.as_ref().map(|_| 2),
            features2,
            rust_version: v.meta.rust_version.clone(),
            pubtime: Some(now.clone()),
        };
        let line_json = line.to_json().map_err(|e| DomainError::internal(e.to_string()))?;
        let (readme_inline, readme_blob) = match readme_key {
            Some(key) => (None, Some(key.to_owned())),
            None => (v.meta.readme.clone().filter(|r| !r.is_empty()), None),
        };
        let seq = state.map(|s| s.summary.version_count).unwrap_or(0) + 1;
        let record = VersionRecord {
            vers: v.version.as_str().to_owned(),
            seq,
            line: line_json,
            yanked: false,
            cksum: pkg.cksum.clone(),
            size: pkg.size,
            blob: blob_key.to_owned(),
            pubtime: now.clone(),
            publisher: publisher.login().to_owned(),
            description: v.meta.description.clone(),
            license: v.meta.license.clone(),
            rust_version: v.meta.rust_version.clone(),
            authors: v.meta.authors.clone(),
            homepage: v.meta.homepage.clone(),
            repository: v.meta.repository.clone(),
            documentation: v.meta.documentation.clone(),
            keywords: v.meta.keywords.clone(),
            categories: v.meta.categories.clone(),
            readme: readme_inline,
            readme_blob: readme_blob.clone(),
            unpacked_size: pkg.unpacked_size,
        };
        let mut versions: Vec<VersionRecord> = state.map(|s| s.versions.clone()).unwrap_or_default();
        versions.push(record.clone());
        versions.sort_by_key(|r| r.seq);
        let file = build_file(&versions);
        let etag = etag_of(&file);
        let max_version = compute_max_version(&versions);

        let mut ops = Vec::with_capacity(5);
        let version_key = keys::version(&norm, &v.version.identity());
        let version_item = Item::from_entity(&version_key, keys::types::VERSION, &record)?;
        check_stored_size(&version_item, "version")?;
        ops.push(TxOp::Put { item: version_item, condition: Some(Condition::NotExists) });
        let summary = match state {
            None => {
                let summary = CrateRecord {
                    name: v.name.as_str().to_owned(),
                    description: v.meta.description.clone(),
                    keywords: v.meta.keywords.clone(),
                    categories: v.meta.categories.clone(),
                    license: v.meta.license.clone(),
                    homepage: v.meta.homepage.clone(),
                    repository: v.meta.repository.clone(),
                    documentation: v.meta.documentation.clone(),
                    max_version,
                    dependencies: local_dep_names(v),
                    version_count: seq,
                    revision: 1,
                    index_etag: etag,
                    created_at: now.clone(),
                    updated_at: now.clone(),
                };
                let (g2pk, g2sk) = keys::catalog_index(&norm);
                let summary_item = Item::from_entity(&keys::crate_summary(&norm), keys::types::CRATE, &summary)?
                    .with_index(crate::store::Index::Gsi2, g2pk, g2sk);
                check_stored_size(&summary_item, "crate")?;
                ops.push(TxOp::Put { item: summary_item, condition: Some(Condition::NotExists) });
                let login = Login::parse(publisher.login())?;
                let owner = OwnerRecord {
                    login: login.as_str().to_owned(),
                    added_at: now.clone(),
                    added_by: login.as_str().to_owned(),
                };
                let (g1pk, g1sk) = keys::owned_crate_index(&login, &norm);
                ops.push(TxOp::Put {
                    item: Item::from_entity(&keys::owner(&norm, &login), keys::types::OWNER, &owner)?.with_index(
                        crate::store::Index::Gsi1,
                        g1pk,
                        g1sk,
                    ),
                    condition: Some(Condition::NotExists),
                });
                summary
            }
            Some(state) => {
                let old = &state.summary;
                // Crate-level metadata follows the highest version: publishing a backport patch
                // of an old line does not overwrite it.
                let summary = if max_version == v.version.as_str() {
                    CrateRecord {
                        description: v.meta.description.clone(),
                        keywords: v.meta.keywords.clone(),
                        categories: v.meta.categories.clone(),
                        license: v.meta.license.clone(),
                        homepage: v.meta.homepage.clone(),
                        repository: v.meta.repository.clone(),
                        documentation: v.meta.documentation.clone(),
                        dependencies: local_dep_names(v),
                        ..old.clone()
                    }
                } else {
                    old.clone()
                };
                let summary = CrateRecord {
                    max_version,
                    version_count: seq,
                    revision: old.revision + 1,
                    index_etag: etag,
                    updated_at: now.clone(),
                    ..summary
                };
                let (g2pk, g2sk) = keys::catalog_index(&norm);
                check_stored_size(
                    &Item::from_entity(&keys::crate_summary(&norm), keys::types::CRATE, &summary)?.with_index(
                        crate::store::Index::Gsi2,
                        g2pk,
                        g2sk,
                    ),
                    "crate",
                )?;
                ops.push(TxOp::Update {
                    key: keys::crate_summary(&norm),
                    update: summary_update(&summary)?,
                    condition: Some(Condition::AttrEquals("revision".into(), old.revision.into())),
                });
                summary
            }
        };
        let mut detail = BTreeMap::new();
        detail.insert("cksum".to_owned(), pkg.cksum.clone());
        if let Publisher::Import { owner, .. } = publisher {
            detail.insert("owner".to_owned(), owner.as_str().to_owned());
        }
        ops.push(audit::event(
            publisher.audit_actor(),
            publisher.audit_action(),
            Some(v.name.as_str()),
            Some(v.version.as_str()),
            detail,
        )?);
        // Last, so the operations' positions above stay as the error mapping expects.
        ops.push(ready_file_op(&norm, &summary.name, &file, &summary.index_etag)?);
        Ok((ops, summary, record))
    }
}

/// The `.crate` and README blobs one publish call created (removed again if it fails).
#[derive(Debug, Default)]
struct WrittenBlobs {
    krate: bool,
    readme: bool,
}

/// The committed version with the same identity (ignoring build metadata), if any.
fn find_version<'s>(state: &'s CrateState, v: &ValidatedPublish) -> Option<&'s VersionRecord> {
    state.versions.iter().find(|r| version_identity(&r.vers) == v.version.identity())
}

/// Refuses an item larger than the store accepts, before anything is written: metadata that
/// passes every other limit (many dependencies with many features, say) can still make the
/// version item too large.
fn check_stored_size(item: &Item, what: &str) -> DomainResult<()> {
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(DomainError::PayloadTooLarge(format!(
            "the {what} metadata of this publish takes {size} bytes once stored, more than the limit of \
             {MAX_ITEM_BYTES} bytes: shorten the dependency list, features, keywords or description"
        )));
    }
    Ok(())
}

fn local_dep_names(v: &ValidatedPublish) -> Vec<String> {
    let own = v.name.normalized();
    v.local_deps.iter().filter(|d| **d != own).map(|d| d.as_str().to_owned()).collect()
}

/// `SET` of every mutable summary attribute.
pub(crate) fn summary_update(s: &CrateRecord) -> DomainResult<Update> {
    let value = serde_json::to_value(s).map_err(|e| DomainError::internal(e.to_string()))?;
    let mut update = Update::new();
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            if k == "name" || k == "created_at" {
                continue;
            }
            update = update.set(k, v);
        }
    }
    Ok(update)
}

/// The identity (version without build metadata) of a stored version string.
pub(crate) fn version_identity(vers: &str) -> String {
    CrateVersion::parse(vers).map(|v| v.identity()).unwrap_or_else(|_| vers.to_owned())
}

fn duplicate_error(v: &ValidatedPublish, existing: &VersionRecord) -> DomainError {
    if existing.vers == v.version.as_str() {
        DomainError::conflict(format!("crate version `{}@{}` already exists", v.name, v.version))
    } else {
        DomainError::conflict(format!(
            "crate version `{}@{}` conflicts with the existing version `{}`: versions that differ only in build metadata are the same version",
            v.name, v.version, existing.vers
        ))
    }
}
