//! Crate owners: list, add, remove. A crate always keeps at least one owner.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::{CrateName, DomainError, DomainResult, Login, Scope};
use crate::model::Entity as _;
use crate::model::{OwnerRecord, UserRecord, keys};
use crate::store::{Condition, TxOp, Update};

use super::auth::{AuthCheck, Principal};
use super::retry::Attempts;
use super::{Registry, audit, clock};

const MAX_ATTEMPTS: u32 = 16;
/// Most owners one request may add or remove.
const MAX_LOGINS_PER_REQUEST: usize = 50;

/// An owner as shown to clients.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerView {
    pub id: u32,
    pub login: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

impl Registry {
    /// Owners of a crate with their user details.
    pub async fn list_owners(&self, principal: Option<&Principal>, name: &CrateName) -> DomainResult<Vec<OwnerView>> {
        self.check_read(principal)?;
        let norm = name.normalized();
        let Some(state) = self.load_crate_state(&norm).await? else {
            return Err(DomainError::not_found(format!("crate `{name}` does not exist")));
        };
        let mut out = Vec::with_capacity(state.owners.len());
        for login in &state.owners {
            let login = Login::parse(login)?;
            match self.items.get(&keys::user(&login)).await? {
                Some(item) => {
                    let u: UserRecord = item.to_entity()?;
                    // E-mail addresses are not shown to every reader of the registry.
                    out.push(OwnerView { id: u.id, login: u.login, name: u.name, email: None });
                }
                None => out.push(OwnerView { id: 0, login: login.as_str().to_owned(), name: None, email: None }),
            }
        }
        Ok(out)
    }

    /// Adds (`add = true`) or removes owners. Returns the message cargo prints.
    pub async fn change_owners(
        &self,
        principal: &Principal,
        name: &CrateName,
        logins: &[String],
        add: bool,
    ) -> DomainResult<String> {
        if logins.is_empty() {
            return Err(DomainError::bad_request("no users given"));
        }
        if logins.len() > MAX_LOGINS_PER_REQUEST {
            return Err(DomainError::bad_request(format!("at most {MAX_LOGINS_PER_REQUEST} users per request")));
        }
        let mut wanted: Vec<Login> = logins.iter().map(|l| Login::parse(l)).collect::<Result<_, _>>()?;
        wanted.sort();
        wanted.dedup();
        let norm = name.normalized();
        let _turn = self.lock_crate(&norm).await;
        let mut attempts = Attempts::new(MAX_ATTEMPTS);
        while attempts.next().await.is_some() {
            let Some(state) = self.load_crate_state(&norm).await? else {
                return Err(DomainError::not_found(format!("crate `{name}` does not exist")));
            };
            let canonical = CrateName::parse(&state.summary.name)?;
            AuthCheck::scope(Scope::ChangeOwners).for_crate(&canonical).owners(&state.owners).check(principal)?;
            let mut ops = Vec::new();
            let mut changed = Vec::new();
            let now = clock::now_string();
            for login in &wanted {
                let is_owner = state.owners.iter().any(|o| o == login.as_str());
                if add {
                    if is_owner {
                        continue;
                    }
                    let Some(item) = self.items.get(&keys::user(login)).await? else {
                        return Err(DomainError::not_found(format!(
                            "no user with login `{login}` exists in this registry"
                        )));
                    };
                    let user: UserRecord = item.to_entity()?;
                    if user.disabled {
                        return Err(DomainError::bad_request(format!("the account `{login}` is disabled")));
                    }
                    let owner = OwnerRecord {
                        login: login.as_str().to_owned(),
                        added_at: now.clone(),
                        added_by: principal.login().to_owned(),
                    };
                    ops.push(TxOp::Put { item: owner.item((&norm, login))?, condition: Some(Condition::NotExists) });
                } else {
                    if !is_owner {
                        return Err(DomainError::not_found(format!(
                            "`{login}` is not an owner of crate `{}`",
                            state.summary.name
                        )));
                    }
                    ops.push(TxOp::Delete { key: keys::owner(&norm, login), condition: Some(Condition::Exists) });
                }
                changed.push(login.as_str().to_owned());
            }
            let list = changed.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", ");
            if changed.is_empty() {
                let who = wanted.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", ");
                return Ok(format!("{who} already owner(s) of crate `{}`", state.summary.name));
            }
            if !add && state.owners.len() <= changed.len() {
                return Err(DomainError::bad_request(format!(
                    "cannot remove every owner of crate `{}`: add another owner first",
                    state.summary.name
                )));
            }
            // Serialize owner changes on the crate revision: two concurrent removals cannot leave
            // the crate without owners.
            ops.push(TxOp::Update {
                key: keys::crate_summary(&norm),
                update: Update::new().add("revision", 1).set("updated_at", now.clone()),
                condition: Some(Condition::AttrEquals("revision".into(), state.summary.revision.into())),
            });
            let mut detail = BTreeMap::new();
            detail.insert("users".to_owned(), changed.join(","));
            ops.push(audit::event(
                principal.login(),
                if add { "owner-add" } else { "owner-remove" },
                Some(&state.summary.name),
                None,
                detail,
            )?);
            match self.items.transact(ops).await {
                Ok(()) => {
                    tracing::info!(krate = %state.summary.name, users = %list, add, by = %principal.login(), "owners changed");
                    return Ok(if add {
                        format!("user(s) {list} added as owner(s) of crate `{}`", state.summary.name)
                    } else {
                        format!("user(s) {list} removed as owner(s) of crate `{}`", state.summary.name)
                    });
                }
                Err(e) if e.is_condition_failure() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::conflict(format!("crate `{name}` is being changed concurrently; please retry")))
    }
}
