//! Users: login, display name, role.

use std::collections::BTreeMap;

use crate::domain::{DomainError, DomainResult, Login};
use crate::model::Entity as _;
use crate::model::{Role, UserRecord, keys};
use crate::store::{Condition, TxOp};

use super::{Registry, audit, clock};

/// A user to create ([`Registry::insert_user`]).
pub(crate) struct NewUser<'a> {
    /// Who creates it (a login, `cli` or `oidc`), for the audit event.
    pub actor: &'a str,
    pub login: &'a Login,
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Role,
    /// The external identity binding written with the user, for users created by single sign-on
    /// (its put is the transaction's second operation, conditioned on not existing).
    pub identity: Option<crate::model::IdentityRecord>,
}

/// Why [`Registry::insert_user`] wrote nothing.
#[derive(Debug)]
pub(crate) enum InsertError {
    /// A user with the login exists.
    LoginTaken,
    /// The identity binding exists (another sign-in of the same identity won a race).
    IdentityTaken,
    Other(DomainError),
}

impl From<DomainError> for InsertError {
    fn from(e: DomainError) -> Self {
        InsertError::Other(e)
    }
}

impl From<crate::store::StoreError> for InsertError {
    fn from(e: crate::store::StoreError) -> Self {
        InsertError::Other(e.into())
    }
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
        self.insert_user(NewUser { actor, login, name, email, role, identity: None }).await.map_err(|e| match e {
            InsertError::LoginTaken => DomainError::conflict(format!("a user with login `{login}` already exists")),
            InsertError::IdentityTaken => DomainError::internal("identity binding conflict without an identity"),
            InsertError::Other(e) => e,
        })
    }

    /// Allocates an id and writes a new user with its audit event in one transaction (the user
    /// item conditioned on not existing, and the identity binding, if any, too). Callers validate
    /// first.
    pub(crate) async fn insert_user(&self, new: NewUser<'_>) -> Result<UserRecord, InsertError> {
        let NewUser { actor, login, name, email, role, identity } = new;
        let id = self.next_user_id().await?;
        let id = u32::try_from(id).map_err(|_| DomainError::internal("user id counter overflow"))?;
        let source = if identity.is_some() { "oidc" } else { "local" };
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
            external_id: None,
        };
        let mut detail = BTreeMap::new();
        detail.insert("user".to_owned(), login.as_str().to_owned());
        detail.insert("role".to_owned(), role.as_str().to_owned());
        if let Some(identity) = &identity {
            detail.insert("source".to_owned(), source.to_owned());
            detail.insert("issuer".to_owned(), identity.issuer.clone());
            detail.insert("subject".to_owned(), identity.subject.clone());
        }
        let mut ops = vec![TxOp::Put { item: user.item(login)?, condition: Some(Condition::NotExists) }];
        if let Some(identity) = &identity {
            ops.push(super::sso::identity_put(identity)?);
        }
        ops.push(audit::event(actor, "user-create", None, None, detail)?);
        match self.items.transact(ops).await {
            Ok(()) => {
                tracing::info!(user = %login, role = role.as_str(), source, "user created");
                Ok(user)
            }
            Err(e) if e.failed_condition_at(0) => Err(InsertError::LoginTaken),
            Err(e) if identity.is_some() && e.failed_condition_at(1) => Err(InsertError::IdentityTaken),
            Err(e) => Err(InsertError::Other(e.into())),
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
