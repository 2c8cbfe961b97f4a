//! Users: the current user, the directory, one user; administration of users.

use async_graphql::connection::{Connection, CursorType, Edge, OpaqueCursor};
use async_graphql::{Context, InputObject, Object, SimpleObject};
use raktar_core::domain::{DomainError, Login};

use crate::api::registry::TotalCount;
use crate::context::env;
use crate::error::Res;
use crate::limits::LIST_ITEM_BYTES;
use crate::loaders::{UserKey, clear_all};
use crate::types::krate::{MAX_PAGE, page_cost};
use crate::types::user::{RoleGql, UserObj};

/// Users, a page at a time, by login (Relay cursor connection).
pub type UserConnection = Connection<OpaqueCursor<String>, UserObj, TotalCount>;

/// A temporary password set by an administrator.
#[derive(SimpleObject)]
pub struct PasswordReset {
    /// The new password: shown this once; give it to the user over a trusted channel.
    pub temporary_password: String,
    /// The user, whose web sessions have ended.
    pub user: UserObj,
}

#[derive(Default)]
pub struct UsersQuery;

#[Object]
impl UsersQuery {
    /// The caller's own account; null when the request carries no credentials.
    async fn me(&self, ctx: &Context<'_>) -> Res<Option<UserObj>> {
        let env = env(ctx)?;
        match env.caller {
            // A token principal carries only what authorization needs; read the whole account.
            Some(p) => Ok(Some(UserObj::of(&env.registry.caller_user(p).await?))),
            None => Ok(None),
        }
    }

    /// The user directory, by login. `query` keeps the users whose login, display name or (for
    /// administrators) e-mail address contains it (case-insensitive).
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> Res<UserConnection> {
        if !(0..=MAX_PAGE).contains(&first) {
            return Err(DomainError::bad_request(format!("`first` must be between 0 and {MAX_PAGE}")).into());
        }
        let after = match after {
            Some(c) => {
                let login = OpaqueCursor::<String>::decode_cursor(&c)
                    .map_err(|_| DomainError::bad_request("invalid cursor `after`"))?;
                Some(Login::parse(&login.0).map_err(|_| DomainError::bad_request("invalid cursor `after`"))?)
            }
            None => None,
        };
        let env = env(ctx)?;
        if query.as_ref().is_some_and(|q| q.len() > 200) {
            return Err(DomainError::bad_request("`query` is at most 200 bytes").into());
        }
        let page = env
            .registry
            .search_users(env.caller, query.as_deref(), after.as_ref(), u32::try_from(first).unwrap_or(0))
            .await?;
        env.charge(page.users.len().saturating_mul(LIST_ITEM_BYTES))?;
        let mut conn = Connection::with_additional_fields(
            after.is_some(),
            page.has_more,
            TotalCount { total_count: page.total as u64 },
        );
        conn.edges.extend(page.users.into_iter().map(|u| Edge::new(OpaqueCursor(u.login.clone()), UserObj::of(u))));
        Ok(conn)
    }

    /// A user by login; null when no such user exists.
    async fn user(&self, ctx: &Context<'_>, login: String) -> Res<Option<UserObj>> {
        let login = Login::parse(&login)?;
        Ok(env(ctx)?.loaders.load_one(UserKey(login)).await?.map(UserObj::new))
    }
}

/// A new user account.
#[derive(InputObject, Debug)]
pub struct CreateUserInput {
    /// 1 to 64 ASCII letters, digits, `-`, `_` or `.` (stored lowercase).
    pub login: String,
    pub name: Option<String>,
    pub email: Option<String>,
    #[graphql(default_with = "RoleGql::Member")]
    pub role: RoleGql,
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Creates a user (administrators; a token must be unrestricted).
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Res<UserObj> {
        let env = env(ctx)?;
        let login = Login::parse(&input.login)?;
        let user =
            env.registry.admin_create_user(env.caller, &login, input.name, input.email, input.role.into()).await?;
        clear_all(env.loaders);
        Ok(UserObj::of(user))
    }

    /// Changes a user's role (administrators, not on themselves; a token must be unrestricted).
    async fn set_user_role(&self, ctx: &Context<'_>, login: String, role: RoleGql) -> Res<UserObj> {
        let env = env(ctx)?;
        let login = Login::parse(&login)?;
        let user = env.registry.set_user_role(env.caller, &login, role.into()).await?;
        clear_all(env.loaders);
        Ok(UserObj::of(user))
    }

    /// Disables a user: their tokens and sessions stop working at once (administrators, not on
    /// themselves; a token must be unrestricted).
    async fn disable_user(&self, ctx: &Context<'_>, login: String) -> Res<UserObj> {
        let env = env(ctx)?;
        let login = Login::parse(&login)?;
        let user = env.registry.set_user_disabled(env.caller, &login, true).await?;
        clear_all(env.loaders);
        Ok(UserObj::of(user))
    }

    /// Links an external (OIDC) identity, named by its issuer and subject, to an existing account:
    /// the identity's sign-ins then open this account (administrators; a token must be
    /// unrestricted). Single sign-on never links an existing account on its own by a matching
    /// login or e-mail.
    async fn link_identity(&self, ctx: &Context<'_>, login: String, issuer: String, subject: String) -> Res<UserObj> {
        let env = env(ctx)?;
        let login = Login::parse(&login)?;
        env.registry.link_identity(env.caller, &login, &issuer, &subject).await?;
        user_after_change(&env, &login).await
    }

    /// Removes the link of an external identity to an account and ends the account's web sessions
    /// (administrators; a token must be unrestricted).
    async fn unlink_identity(&self, ctx: &Context<'_>, login: String, issuer: String, subject: String) -> Res<UserObj> {
        let env = env(ctx)?;
        let login = Login::parse(&login)?;
        env.registry.unlink_identity(env.caller, &login, &issuer, &subject).await?;
        user_after_change(&env, &login).await
    }

    /// Sets a new random password for a user and ends their web sessions (administrators; a token
    /// must be unrestricted). The password is returned this once.
    async fn reset_user_password(&self, ctx: &Context<'_>, login: String) -> Res<PasswordReset> {
        let env = env(ctx)?;
        let login = Login::parse(&login)?;
        let (user, password) = env.registry.reset_user_password(env.caller, &login).await?;
        clear_all(env.loaders);
        Ok(PasswordReset { temporary_password: password, user: UserObj::of(user) })
    }

    /// Ends every web session of a user; their tokens keep working (administrators; a token must
    /// be unrestricted).
    async fn revoke_user_sessions(&self, ctx: &Context<'_>, login: String) -> Res<UserObj> {
        let env = env(ctx)?;
        let login = Login::parse(&login)?;
        let user = env.registry.admin_revoke_user_sessions(env.caller, &login).await?;
        Ok(UserObj::of(user))
    }

    /// Re-enables a disabled user (administrators; a token must be unrestricted).
    async fn enable_user(&self, ctx: &Context<'_>, login: String) -> Res<UserObj> {
        let env = env(ctx)?;
        let login = Login::parse(&login)?;
        let user = env.registry.set_user_disabled(env.caller, &login, false).await?;
        clear_all(env.loaders);
        Ok(UserObj::of(user))
    }
}

/// The user as stored after an administrative change (loaders cleared).
async fn user_after_change(env: &crate::context::Env<'_>, login: &Login) -> Res<UserObj> {
    clear_all(env.loaders);
    let user = env
        .registry
        .get_user(login)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("no user with login `{login}`")))?;
    Ok(UserObj::of(user))
}
