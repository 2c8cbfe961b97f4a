//! Users: login, display name, role.

use std::collections::BTreeMap;

use crate::domain::{DomainError, DomainResult, Login};
use crate::model::{Role, UserRecord, keys};
use crate::store::{Condition, Index, Item, TxOp};

use super::{Registry, audit, clock};

/// A user to create ([`Registry::insert_user`]).
pub(crate) struct NewUser<'a> {
    /// Who creates it (a login, `cli` or `oidc`), for the audit event.
    pub actor: &'a str,
    pub login: &'a Login,
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Role,
    /// The identity provider's subject, for users created by single sign-on.
    pub external_id: Option<String>,
}

impl Registry {
    /// Creates a user with the next numeric id.
    pub async fn create_user(
        &self,
        actor: &str,
        login: &Login,
        name: Option<String>,
        email: Option<String>,
        role: Role,
    ) -> DomainResult<UserRecord> {
        if let Some(n) = &name
            && n.chars().count() > 128
        {
            return Err(DomainError::bad_request("display names are at most 128 characters"));
        }
        if self.items.get(&keys::user(login)).await?.is_some() {
            return Err(DomainError::conflict(format!("a user with login `{login}` already exists")));
        }
        self.insert_user(NewUser { actor, login, name, email, role, external_id: None }).await
    }

    /// Allocates an id and writes a new user with its audit event in one transaction (the user
    /// item conditioned on not existing). Callers validate first.
    pub(crate) async fn insert_user(&self, new: NewUser<'_>) -> DomainResult<UserRecord> {
        let NewUser { actor, login, name, email, role, external_id } = new;
        let id = self.next_user_id().await?;
        let id = u32::try_from(id).map_err(|_| DomainError::internal("user id counter overflow"))?;
        let source = if external_id.is_some() { "oidc" } else { "local" };
        let user = UserRecord {
            id,
            login: login.as_str().to_owned(),
            name,
            email,
            role,
            disabled: false,
            created_at: clock::now_string(),
            revision: 1,
            password_hash: None,
            external_id,
        };
        let (g2pk, g2sk) = keys::user_directory_index(login);
        let mut detail = BTreeMap::new();
        detail.insert("user".to_owned(), login.as_str().to_owned());
        detail.insert("role".to_owned(), role.as_str().to_owned());
        if user.external_id.is_some() {
            detail.insert("source".to_owned(), source.to_owned());
        }
        let ops = vec![
            TxOp::Put {
                item: Item::from_entity(&keys::user(login), keys::types::USER, &user)?.with_index(
                    Index::Gsi2,
                    g2pk,
                    g2sk,
                ),
                condition: Some(Condition::NotExists),
            },
            audit::event(actor, "user-create", None, None, detail)?,
        ];
        match self.items.transact(ops).await {
            Ok(()) => {
                tracing::info!(user = %login, role = role.as_str(), source, "user created");
                Ok(user)
            }
            Err(e) if e.failed_condition_at(0) => {
                Err(DomainError::conflict(format!("a user with login `{login}` already exists")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Allocates the next numeric user id (atomic ADD on the `COUNTER#users` item).
    pub(crate) async fn next_user_id(&self) -> DomainResult<i64> {
        let update = crate::store::Update::new().add("value", 1).set_if_absent("type", keys::types::COUNTER);
        let item = self.items.update(&keys::counter("users"), update, None).await?;
        item.get_i64("value").ok_or_else(|| DomainError::internal("user id counter missing after add"))
    }

    pub async fn get_user(&self, login: &Login) -> DomainResult<Option<UserRecord>> {
        Ok(match self.items.get(&keys::user(login)).await? {
            Some(item) => Some(item.to_entity()?),
            None => None,
        })
    }
}
