//! The commit of a verified publish (shared by `cargo publish` and `raktar import`): the blobs
//! first, then every item in one conditional transaction, retried on lost races; every failure
//! removes the blobs this call wrote.

use std::collections::BTreeMap;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::domain::{CrateVersion, DomainError, DomainResult, Login, NormalizedName};
use crate::model::Entity as _;
use crate::model::{CrateRecord, IndexLine, OwnerRecord, VersionRecord, keys};
use crate::store::item::{MAX_ITEM_BYTES, item_size};
use crate::store::{Condition, Item, PutOutcome, TxOp, Update};

use super::super::index::{CrateState, build_file, compute_max_version, etag_of, ready_file_op};
use super::super::retry::Attempts;
use super::super::{Registry, audit, clock, package};
use super::error::PublishError;
use super::validate::ValidatedPublish;
use super::wire::{PublishOutcome, PublishWarnings};
use super::{Publisher, duplicate_error, find_version};

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

impl Registry {
    /// Stores the blob and commits the version (shared by publish and import): after validation,
    /// verification and the dependency check.
    pub(crate) async fn commit_version(
        &self,
        publisher: Publisher<'_>,
        v: &ValidatedPublish,
        pkg: &package::VerifiedPackage,
        krate_bytes: Bytes,
        known_state: Option<Option<CrateState>>,
    ) -> Result<PublishOutcome, PublishError> {
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
    ) -> Result<PublishOutcome, PublishError> {
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
        let mut attempts = Attempts::new(MAX_ATTEMPTS);
        while let Some(attempt) = attempts.next().await {
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
        Err(PublishError::Contention(format!(
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

    fn publish_ops(
        &self,
        publisher: Publisher<'_>,
        v: &ValidatedPublish,
        pkg: &package::VerifiedPackage,
        blob_key: &str,
        readme_key: Option<&str>,
        state: Option<&CrateState>,
    ) -> Result<(Vec<TxOp>, CrateRecord, VersionRecord), PublishError> {
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
        let version_item = record.item((&norm, &v.version.identity()))?;
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
                let summary_item = summary.item(&norm)?;
                check_stored_size(&summary_item, "crate")?;
                ops.push(TxOp::Put { item: summary_item, condition: Some(Condition::NotExists) });
                let login = Login::parse(publisher.login())?;
                let owner = OwnerRecord {
                    login: login.as_str().to_owned(),
                    added_at: now.clone(),
                    added_by: login.as_str().to_owned(),
                };
                ops.push(TxOp::Put { item: owner.item((&norm, &login))?, condition: Some(Condition::NotExists) });
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
                check_stored_size(&summary.item(&norm)?, "crate")?;
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

/// Refuses an item larger than the store accepts, before anything is written: metadata that
/// passes every other limit (many dependencies with many features, say) can still make the
/// version item too large.
fn check_stored_size(item: &Item, what: &str) -> Result<(), PublishError> {
    let size = item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(PublishError::TooLarge(format!(
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
