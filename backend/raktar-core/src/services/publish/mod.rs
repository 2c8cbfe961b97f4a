//! Publish: the most important write. Parse the framing and the bounded metadata
//! ([`wire`]), validate it ([`validate`]), authorize the caller against the crate's current state,
//! verify the tarball, then store the blobs and commit every item in one conditional transaction
//! ([`commit`]).

mod commit;
mod error;
mod validate;
mod wire;

use std::collections::HashSet;

use bytes::Bytes;

use crate::domain::names::truncate_for_message;
use crate::domain::{DomainError, DomainResult, Login, NormalizedName, Scope};
use crate::model::VersionRecord;
use crate::model::keys;

use super::auth::{AuthCheck, Principal};
use super::index::CrateState;
use super::{Registry, package};

pub use commit::{crate_blob_key, readme_blob_key};
pub(crate) use commit::{summary_update, version_identity};
pub use error::PublishError;
pub use validate::{ValidatedPublish, validate};
pub use wire::{Limits, PublishDep, PublishMetadata, PublishOutcome, PublishWarnings, parse_framing};

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
        Ok(self.publish_typed(principal, body).await?)
    }

    /// [`Self::publish`] with the typed error.
    pub async fn publish_typed(&self, principal: &Principal, body: Bytes) -> Result<PublishOutcome, PublishError> {
        let limits = &self.config.limits;
        let (json, krate) = parse_framing(&body, limits)?;
        let meta: PublishMetadata = serde_json::from_slice(json).map_err(|e| {
            PublishError::metadata(format!("invalid publish metadata JSON: {}", truncate_for_message(&e.to_string())))
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
    ) -> Result<package::VerifiedPackage, PublishError> {
        let (name, vers, max) =
            (v.name.as_str().to_owned(), v.version.as_str().to_owned(), self.config.limits.max_unpacked_bytes);
        tokio::task::spawn_blocking(move || package::verify(&krate, &name, &vers, max))
            .await
            .map_err(|e| DomainError::internal(format!("tarball verification task failed: {e}")))?
    }

    fn authorize_publish(
        &self,
        publisher: Publisher<'_>,
        v: &ValidatedPublish,
        state: Option<&CrateState>,
    ) -> Result<(), PublishError> {
        // An import is an administrator's bulk action: no per-crate authorization.
        let principal = match publisher {
            Publisher::Cargo(principal) => Some(principal),
            Publisher::Import { .. } => None,
        };
        match state {
            None => match principal {
                Some(principal) => Ok(AuthCheck::scope(Scope::PublishNew).for_crate(&v.name).check(principal)?),
                None => Ok(()),
            },
            Some(state) => {
                if state.summary.name != v.name.as_str() {
                    return Err(PublishError::NameSpelling(format!(
                        "crate was previously named `{}`; publish it under that exact name",
                        state.summary.name
                    )));
                }
                match principal {
                    Some(principal) => Ok(AuthCheck::scope(Scope::PublishUpdate)
                        .for_crate(&v.name)
                        .owners(&state.owners)
                        .check(principal)?),
                    None => Ok(()),
                }
            }
        }
    }

    /// Dependencies from this registry must exist here (cargo could not resolve them otherwise).
    pub(crate) async fn check_local_deps(&self, v: &ValidatedPublish) -> Result<(), PublishError> {
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
                return Err(PublishError::MissingDependency(format!(
                    "dependency `{shown}` does not exist in this registry; publish it first (or set `registry` for crates from another registry)"
                )));
            }
        }
        Ok(())
    }
}

/// The committed version with the same identity (ignoring build metadata), if any.
fn find_version<'s>(state: &'s CrateState, v: &ValidatedPublish) -> Option<&'s VersionRecord> {
    state.versions.iter().find(|r| version_identity(&r.vers) == v.version.identity())
}

fn duplicate_error(v: &ValidatedPublish, existing: &VersionRecord) -> PublishError {
    if existing.vers == v.version.as_str() {
        PublishError::Duplicate(format!("crate version `{}@{}` already exists", v.name, v.version))
    } else {
        PublishError::Duplicate(format!(
            "crate version `{}@{}` conflicts with the existing version `{}`: versions that differ only in build metadata are the same version",
            v.name, v.version, existing.vers
        ))
    }
}
