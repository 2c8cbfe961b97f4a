//! The caller's cargo tokens.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use raktar_core::domain::{CratePattern, DomainError};
use raktar_core::services::auth::require;
use raktar_core::services::tokens::{NewToken, TokenView};

use crate::context::env;
use crate::error::Res;
use crate::types::token::{CreatedToken, ScopeGql, TokenObj};

/// Longest token lifetime in days (10 years).
const MAX_DAYS: i32 = 3650;

#[derive(Default)]
pub struct TokensQuery;

#[Object]
impl TokensQuery {
    /// The caller's cargo tokens, by name (never their secrets).
    async fn my_tokens(&self, ctx: &Context<'_>) -> Res<Vec<TokenObj>> {
        own_tokens(&env(ctx)?).await
    }
}

/// The caller's tokens, by name.
async fn own_tokens(env: &crate::context::Env<'_>) -> Res<Vec<TokenObj>> {
    let login = require(env.caller)?.login().to_owned();
    let mut tokens = env.registry.own_tokens(env.caller).await?;
    tokens.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(tokens.into_iter().map(|t| TokenObj::new(&login, t)).collect())
}

/// A new cargo token for the caller.
#[derive(InputObject, Debug)]
pub struct CreateTokenInput {
    /// Unique per user: 1 to 64 letters, digits, space, `-`, `_`, `.`, `:`, `@`.
    pub name: String,
    /// At least one scope. A token may only create tokens with its own scopes or fewer.
    pub scopes: Vec<ScopeGql>,
    /// Crate-name patterns (`serde`, `acme-*`) limiting the token; empty: every crate.
    #[graphql(default)]
    pub crates: Vec<String>,
    /// Lifetime in days (1 to 3650); null: no expiry (not allowed when the caller's token expires).
    pub expires_in_days: Option<i32>,
}

/// The result of revoking a token.
#[derive(SimpleObject, Debug)]
pub struct RevokedToken {
    /// Name of the revoked token.
    pub name: String,
    /// The caller's remaining tokens, by name.
    pub tokens: Vec<TokenObj>,
}

#[derive(Default)]
pub struct TokensMutation;

#[Object]
impl TokensMutation {
    /// Creates a cargo token for the caller; the secret is returned this once.
    async fn create_token(&self, ctx: &Context<'_>, input: CreateTokenInput) -> Res<CreatedToken> {
        let crates = input.crates.iter().map(|c| CratePattern::parse(c)).collect::<Result<Vec<_>, _>>()?;
        let expires_in_secs = match input.expires_in_days {
            Some(d) if !(1..=MAX_DAYS).contains(&d) => {
                return Err(
                    DomainError::bad_request(format!("`expiresInDays` must be between 1 and {MAX_DAYS}")).into()
                );
            }
            Some(d) => Some(i64::from(d) * 86_400),
            None => None,
        };
        let env = env(ctx)?;
        let new = NewToken {
            name: input.name,
            scopes: input.scopes.into_iter().map(Into::into).collect(),
            crates,
            expires_in_secs,
        };
        let created = env.registry.create_own_token(env.caller, new).await?;
        let now = raktar_core::services::clock::unix_now();
        let r = created.record;
        let view = TokenView {
            expired: r.expires_unix.is_some_and(|e| e <= now),
            name: r.name,
            scopes: r.scopes,
            crates: r.crates,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            hint: r.hint,
        };
        Ok(CreatedToken { token: TokenObj::new(&r.login, view), secret: created.secret })
    }

    /// Revokes one of the caller's tokens by name; it stops working at once. A token may revoke
    /// itself and tokens no more powerful than itself.
    async fn revoke_token(&self, ctx: &Context<'_>, name: String) -> Res<RevokedToken> {
        let env = env(ctx)?;
        env.registry.revoke_own_token(env.caller, &name).await?;
        let tokens = own_tokens(&env).await?;
        Ok(RevokedToken { name, tokens })
    }
}
