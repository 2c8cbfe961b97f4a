//! Yank and unyank: only the `yanked` flag of a line ever changes after publish.

use std::collections::BTreeMap;

use crate::domain::{CrateName, CrateVersion, DomainError, DomainResult, NormalizedName, Scope};
use crate::model::{CrateRecord, IndexLine, VersionRecord, keys};
use crate::store::{Condition, TxOp, Update};

use super::auth::{AuthCheck, Principal};
use super::index::{build_file, compute_max_version, etag_of, ready_file_op};
use super::publish::{summary_update, version_identity};
use super::retry::Attempts;
use super::views::{YANKED_AT_ATTR, YANKED_BY_ATTR};
use super::{Registry, audit, clock};

const MAX_ATTEMPTS: u32 = 16;

impl Registry {
    /// Sets the yanked flag of one version (idempotent).
    pub async fn set_yanked(
        &self,
        principal: &Principal,
        name: &CrateName,
        version: &CrateVersion,
        yanked: bool,
    ) -> DomainResult<()> {
        let norm = name.normalized();
        let _turn = self.lock_crate(&norm).await;
        let mut attempts = Attempts::new(MAX_ATTEMPTS);
        while attempts.next().await.is_some() {
            let Some(mut state) = self.load_crate_state(&norm).await? else {
                return Err(DomainError::not_found(format!("crate `{name}` does not exist")));
            };
            let canonical = CrateName::parse(&state.summary.name)?;
            AuthCheck::scope(Scope::Yank).for_crate(&canonical).owners(&state.owners).check(principal)?;
            let Some(pos) = state.versions.iter().position(|v| v.vers == version.as_str()) else {
                return Err(DomainError::not_found(format!(
                    "crate `{}` has no version `{version}`",
                    state.summary.name
                )));
            };
            if state.versions[pos].yanked == yanked {
                return Ok(());
            }
            let record = &mut state.versions[pos];
            let mut line: IndexLine =
                serde_json::from_str(&record.line).map_err(|e| DomainError::internal(e.to_string()))?;
            line.yanked = yanked;
            record.line = line.to_json().map_err(|e| DomainError::internal(e.to_string()))?;
            record.yanked = yanked;
            let record = record.clone();
            let file = build_file(&state.versions);
            let mut summary = state.summary.clone();
            summary.index_etag = etag_of(&file);
            summary.max_version = compute_max_version(&state.versions);
            if summary.max_version != state.summary.max_version
                && let Some(newest) = state.versions.iter().find(|v| v.vers == summary.max_version)
            {
                // Crate-level metadata and the reverse-dependency source follow the highest
                // version, as on publish.
                follow_version(&mut summary, newest, &norm)?;
            }
            summary.revision += 1;
            summary.updated_at = clock::now_string();
            let ops = vec![
                TxOp::Update {
                    key: keys::version(&norm, &version_identity(&record.vers)),
                    update: yank_marks(
                        Update::new().set("yanked", yanked).set("line", record.line.clone()),
                        yanked,
                        principal.login(),
                    ),
                    condition: Some(Condition::AttrEquals("yanked".into(), (!yanked).into())),
                },
                TxOp::Update {
                    key: keys::crate_summary(&norm),
                    update: summary_update(&summary)?,
                    condition: Some(Condition::AttrEquals("revision".into(), state.summary.revision.into())),
                },
                audit::event(
                    principal.login(),
                    if yanked { "yank" } else { "unyank" },
                    Some(&state.summary.name),
                    Some(&record.vers),
                    BTreeMap::new(),
                )?,
                ready_file_op(&norm, &summary.name, &file, &summary.index_etag)?,
            ];
            match self.items.transact(ops).await {
                Ok(()) => {
                    self.after_crate_change(&norm, &summary);
                    tracing::info!(krate = %state.summary.name, vers = %record.vers, yanked, by = %principal.login(), "yank state changed");
                    return Ok(());
                }
                Err(e) if e.is_condition_failure() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::conflict(format!("crate `{name}` is being changed concurrently; please retry")))
    }
}

/// Records who yanked a version and when (removed again by an unyank).
fn yank_marks(update: Update, yanked: bool, login: &str) -> Update {
    if yanked {
        update.set(YANKED_AT_ATTR, clock::now_string()).set(YANKED_BY_ATTR, login)
    } else {
        update.remove(YANKED_AT_ATTR).remove(YANKED_BY_ATTR)
    }
}

/// Takes the crate-level metadata and the local dependencies of `newest` into the summary.
fn follow_version(summary: &mut CrateRecord, newest: &VersionRecord, own: &NormalizedName) -> DomainResult<()> {
    let line: IndexLine = serde_json::from_str(&newest.line).map_err(|e| DomainError::internal(e.to_string()))?;
    let mut local = std::collections::BTreeSet::new();
    for dep in line.deps.iter().filter(|d| d.registry.is_none()) {
        let real = dep.package.as_deref().unwrap_or(&dep.name);
        let norm = NormalizedName::from_stored(real);
        if &norm != own {
            local.insert(norm.as_str().to_owned());
        }
    }
    summary.dependencies = local.into_iter().collect();
    summary.description = newest.description.clone();
    summary.keywords = newest.keywords.clone();
    summary.categories = newest.categories.clone();
    summary.license = newest.license.clone();
    summary.homepage = newest.homepage.clone();
    summary.repository = newest.repository.clone();
    summary.documentation = newest.documentation.clone();
    Ok(())
}
