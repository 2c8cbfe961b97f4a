//! `User` and `Role`.

use std::sync::Arc;

use async_graphql::{Context, Enum, Object};
use raktar_core::domain::Login;
use raktar_core::model::Role;
use raktar_core::services::crates::sees_private_details;
use raktar_core::services::views::UserView;

use crate::context::env;
use crate::error::Res;
use crate::limits::LIST_ITEM_BYTES;
use crate::loaders::CrateKey;
use crate::types::krate::{CrateObj, UNBOUNDED_LIST_ITEMS, list_cost};
use crate::types::scalars::DateTime;

/// What a user may do in the registry.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Role")]
pub enum RoleGql {
    /// Every right, including user management and the audit log.
    Admin,
    /// Publishes crates and manages the crates they own.
    Member,
}

impl From<Role> for RoleGql {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => RoleGql::Admin,
            Role::Member => RoleGql::Member,
        }
    }
}

impl From<RoleGql> for Role {
    fn from(r: RoleGql) -> Self {
        match r {
            RoleGql::Admin => Role::Admin,
            RoleGql::Member => Role::Member,
        }
    }
}

/// A user account.
pub struct UserObj {
    record: Arc<UserView>,
}

impl UserObj {
    pub fn new(record: Arc<UserView>) -> Self {
        Self { record }
    }

    /// A user from a service result.
    pub fn of(user: impl Into<UserView>) -> Self {
        Self { record: Arc::new(user.into()) }
    }
}

/// A user account.
#[Object(name = "User")]
impl UserObj {
    async fn id(&self) -> u32 {
        self.record.id
    }

    /// Unique, lowercase.
    async fn login(&self) -> &str {
        &self.record.login
    }

    /// Display name.
    async fn name(&self) -> Option<&str> {
        self.record.name.as_deref()
    }

    /// E-mail address: visible to the user themself and to administrators only (null otherwise).
    async fn email(&self, ctx: &Context<'_>) -> Res<Option<String>> {
        let env = env(ctx)?;
        Ok(if sees_private_details(env.caller, &self.record.login) { self.record.email.clone() } else { None })
    }

    async fn role(&self) -> RoleGql {
        self.record.role.into()
    }

    /// A disabled account can neither sign in nor use its tokens.
    async fn disabled(&self) -> bool {
        self.record.disabled
    }

    async fn created_at(&self) -> DateTime {
        DateTime(self.record.created_at.clone())
    }

    /// Crates this user owns, by name.
    #[graphql(complexity = "list_cost(None, UNBOUNDED_LIST_ITEMS, child_complexity)")]
    async fn crates(&self, ctx: &Context<'_>) -> Res<Vec<CrateObj>> {
        let env = env(ctx)?;
        let login = Login::parse(&self.record.login)?;
        let names = env.registry.crates_owned_by(env.caller, &login).await?;
        env.charge(names.len().saturating_mul(LIST_ITEM_BYTES))?;
        let keys: Vec<CrateKey> = names.into_iter().map(CrateKey).collect();
        let found = env.loaders.load_many(keys.clone()).await?;
        Ok(keys.iter().filter_map(|k| found.get(k)).map(|s| CrateObj::from_summary(s.clone())).collect())
    }
}
