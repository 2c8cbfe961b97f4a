//! The caller's own account: password and web sessions.

use async_graphql::{Context, ID, Object, SimpleObject};

use crate::context::env;
use crate::error::Res;
use crate::limits::LIST_ITEM_BYTES;
use crate::types::scalars::DateTime;
use raktar_core::services::self_service::SessionView;

/// One of the caller's web sessions.
#[derive(SimpleObject, Clone, Debug)]
pub struct Session {
    /// Opaque id (for `revokeSession`).
    pub id: ID,
    /// How the session was opened: `password` or `oidc`.
    pub method: String,
    pub created_at: DateTime,
    /// Last use, to five minutes.
    pub last_seen_at: Option<DateTime>,
    pub expires_at: DateTime,
    /// The session of this request.
    pub current: bool,
}

impl From<SessionView> for Session {
    fn from(s: SessionView) -> Self {
        Self {
            id: ID(s.id),
            method: s.method,
            created_at: DateTime(s.created_at),
            last_seen_at: s.last_seen_at.map(DateTime),
            expires_at: DateTime(s.expires_at),
            current: s.current,
        }
    }
}

fn sessions(env: &crate::context::Env<'_>, list: Vec<SessionView>) -> Res<Vec<Session>> {
    env.charge(list.len().saturating_mul(LIST_ITEM_BYTES))?;
    Ok(list.into_iter().map(Session::from).collect())
}

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The caller's web sessions, newest first (a web session or an unrestricted token).
    async fn my_sessions(&self, ctx: &Context<'_>) -> Res<Vec<Session>> {
        let env = env(ctx)?;
        let list = env.registry.own_sessions(env.caller, env.session).await?;
        sessions(&env, list)
    }
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Changes the caller's password (local accounts, through a web session). A wrong `current`
    /// password is `BAD_USER_INPUT` (attempts are limited like sign-ins); every other web session
    /// of the caller ends, this one stays.
    async fn change_password(&self, ctx: &Context<'_>, current: String, new: String) -> Res<bool> {
        let env = env(ctx)?;
        env.registry.change_own_password(env.caller, &current, &new, env.session).await?;
        Ok(true)
    }

    /// Ends one of the caller's web sessions (through a web session); returns the remaining ones.
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> Res<Vec<Session>> {
        let env = env(ctx)?;
        let list = env.registry.revoke_own_session(env.caller, &id.0, env.session).await?;
        sessions(&env, list)
    }

    /// Ends every web session of the caller, this one included (through a web session).
    async fn sign_out_everywhere(&self, ctx: &Context<'_>) -> Res<bool> {
        let env = env(ctx)?;
        env.registry.sign_out_everywhere(env.caller).await?;
        Ok(true)
    }
}
