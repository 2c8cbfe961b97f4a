//! `Token`, `Scope` and the token-creation result.

use async_graphql::{Enum, ID, SimpleObject};
use raktar_core::domain::Scope;
use raktar_core::services::tokens::TokenView;

use crate::types::scalars::DateTime;

/// What a cargo token may do.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Scope")]
pub enum ScopeGql {
    /// Read the index, download crates, search (every other scope implies it).
    Read,
    /// Publish a crate name that does not exist yet.
    PublishNew,
    /// Publish new versions of crates the user owns.
    PublishUpdate,
    /// Yank and unyank versions.
    Yank,
    /// Add and remove owners.
    ChangeOwners,
}

impl From<Scope> for ScopeGql {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Read => ScopeGql::Read,
            Scope::PublishNew => ScopeGql::PublishNew,
            Scope::PublishUpdate => ScopeGql::PublishUpdate,
            Scope::Yank => ScopeGql::Yank,
            Scope::ChangeOwners => ScopeGql::ChangeOwners,
        }
    }
}

impl From<ScopeGql> for Scope {
    fn from(s: ScopeGql) -> Self {
        match s {
            ScopeGql::Read => Scope::Read,
            ScopeGql::PublishNew => Scope::PublishNew,
            ScopeGql::PublishUpdate => Scope::PublishUpdate,
            ScopeGql::Yank => Scope::Yank,
            ScopeGql::ChangeOwners => Scope::ChangeOwners,
        }
    }
}

/// A cargo token of the current user (never its secret).
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Token")]
pub struct TokenObj {
    /// Stable, opaque identity: `token:{login}/{name}`.
    pub id: ID,
    /// Unique per user.
    pub name: String,
    pub scopes: Vec<ScopeGql>,
    /// Crate-name patterns limiting the token (`acme-*`); empty means every crate.
    pub crates: Vec<String>,
    pub created_at: DateTime,
    pub expires_at: Option<DateTime>,
    pub expired: bool,
    /// Last use, to the minute.
    pub last_used_at: Option<DateTime>,
    /// The first characters of the secret, to recognise it.
    pub hint: String,
}

impl TokenObj {
    /// A token of the user `login`.
    pub fn new(login: &str, t: TokenView) -> Self {
        Self {
            id: ID(format!("token:{login}/{}", t.name)),
            name: t.name,
            scopes: t.scopes.into_iter().map(Into::into).collect(),
            crates: t.crates,
            created_at: DateTime(t.created_at),
            expires_at: t.expires_at.map(DateTime),
            expired: t.expired,
            last_used_at: t.last_used_at.map(DateTime),
            hint: t.hint,
        }
    }
}

/// A new token. The secret is shown this once and never again.
#[derive(SimpleObject, Clone, Debug)]
pub struct CreatedToken {
    pub token: TokenObj,
    /// The token to give cargo (`cargo login --registry <name>`).
    pub secret: String,
}
