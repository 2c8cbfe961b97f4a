//! The caller's own account beyond tokens (password change, web sessions), and the administrator
//! actions on another user's password and sessions. Every method decides its authorization here.
//!
//! Sessions are named to their user by an opaque id derived from the session's stored key (never
//! the secret, which is not stored): [`session_id`].

use std::collections::BTreeMap;

use crate::domain::{DomainError, DomainResult, Login, Scope};
use crate::model::{SessionRecord, UserRecord, keys};
use crate::store::{Index, Query, query_all};

use super::admin::check_admin;
use super::auth::{AuthCheck, Principal, hash_token, require};
use super::passwords::{MAX_PASSWORD_BYTES, verify_blocking};
use super::{Registry, audit, clock};

/// Characters of a temporary password (base64url of random bytes: 144 bits).
const TEMPORARY_PASSWORD_BYTES: usize = 18;
/// Hex characters of the session key hash that make a session id.
const SESSION_ID_HEX: usize = 32;

/// A web session as its user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// Opaque id (for `revokeSession`).
    pub id: String,
    /// How the user signed in: `password` or `oidc`.
    pub method: String,
    pub created_at: String,
    /// Last use, to five minutes.
    pub last_seen_at: Option<String>,
    pub expires_at: String,
    /// The session the request came with.
    pub current: bool,
}

/// The id of the session stored under the key hash `hash` (hex).
fn session_id(hash: &str) -> String {
    format!("session:{}", &hash[..hash.len().min(SESSION_ID_HEX)])
}

/// The caller as a web session with every right of its user: what changes to the account itself
/// (password, sessions) need. A cargo token, however powerful, may not do them.
fn require_session(principal: Option<&Principal>) -> DomainResult<&Principal> {
    let principal = require(principal)?;
    if principal.token.is_some() {
        return Err(DomainError::forbidden(
            "sign in to the web UI to manage your password and sessions (a cargo token may not)",
        ));
    }
    Ok(principal)
}

impl Registry {
    /// Changes the caller's own password (a local account, through a web session): `current` must
    /// be right (attempts are counted like sign-ins); every other session of the user ends, the
    /// one with the secret `keep` (the caller's) stays.
    pub async fn change_own_password(
        &self,
        principal: Option<&Principal>,
        current: &str,
        new: &str,
        keep: Option<&str>,
    ) -> DomainResult<()> {
        let principal = require_session(principal)?;
        let login = Login::parse(principal.login())?;
        super::passwords::validate_new_password(new)?;
        let limits = &self.config.sessions;
        let attempt =
            self.count_attempt("password-change", login.as_str(), limits.attempts_per_login, "this account").await?;
        let user =
            self.get_user(&login).await?.ok_or_else(|| DomainError::unauthenticated("the account no longer exists"))?;
        let Some(stored) = user.password_hash.as_ref().map(|h| h.0.clone()) else {
            return Err(DomainError::bad_request("this account has no password (it signs in through single sign-on)"));
        };
        if current.len() > MAX_PASSWORD_BYTES || !verify_blocking(current, Some(stored)).await? {
            return Err(DomainError::bad_request("the current password is wrong"));
        }
        self.refund_attempt(&attempt).await;
        self.write_password(principal.login(), &login, new, "password-change").await?;
        self.revoke_user_sessions_except(principal.login(), &login, keep).await?;
        Ok(())
    }

    /// Sets a new random password for a user and ends their web sessions (administrators through
    /// a session or an unrestricted token); returns the user and the password, shown once.
    pub async fn reset_user_password(
        &self,
        principal: Option<&Principal>,
        login: &Login,
    ) -> DomainResult<(UserRecord, String)> {
        let principal = check_admin(principal)?;
        let user = self
            .get_user(login)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("no user with login `{login}`")))?;
        let password = super::sessions::random_secret(TEMPORARY_PASSWORD_BYTES);
        self.write_password(principal.login(), login, &password, "password-reset").await?;
        self.revoke_user_sessions(principal.login(), login).await?;
        Ok((user, password))
    }

    /// Ends every web session of a user (administrators through a session or an unrestricted
    /// token); returns the user.
    pub async fn admin_revoke_user_sessions(
        &self,
        principal: Option<&Principal>,
        login: &Login,
    ) -> DomainResult<UserRecord> {
        let principal = check_admin(principal)?;
        let user = self
            .get_user(login)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("no user with login `{login}`")))?;
        self.revoke_user_sessions(principal.login(), login).await?;
        Ok(user)
    }

    /// The caller's web sessions, newest first; `current` marks the one with the secret
    /// `current_secret`. Through a session or an unrestricted token.
    pub async fn own_sessions(
        &self,
        principal: Option<&Principal>,
        current_secret: Option<&str>,
    ) -> DomainResult<Vec<SessionView>> {
        let principal = require(principal)?;
        AuthCheck::scope(Scope::Read).unrestricted_token().check(principal)?;
        let login = Login::parse(principal.login())?;
        let current = current_secret.map(hash_token);
        let now = clock::unix_now();
        let mut sessions = Vec::new();
        for (hash, record) in self.sessions_of(&login).await? {
            if record.expires_unix <= now {
                continue;
            }
            sessions.push(SessionView {
                id: session_id(&hash),
                method: record.method,
                created_at: record.created_at,
                last_seen_at: record
                    .last_seen_unix
                    .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                    .map(clock::format),
                expires_at: record.expires_at,
                current: current.as_deref() == Some(hash.as_str()),
            });
        }
        sessions.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        Ok(sessions)
    }

    /// Ends one of the caller's sessions by id (a session may end itself); returns the remaining
    /// ones. Through a web session only.
    pub async fn revoke_own_session(
        &self,
        principal: Option<&Principal>,
        id: &str,
        current_secret: Option<&str>,
    ) -> DomainResult<Vec<SessionView>> {
        let principal = require_session(principal)?;
        let login = Login::parse(principal.login())?;
        let found = self.sessions_of(&login).await?.into_iter().find(|(hash, _)| session_id(hash) == id);
        let Some((hash, _)) = found else {
            return Err(DomainError::not_found(format!(
                "you have no session `{}`",
                crate::domain::names::truncate_for_message(id)
            )));
        };
        let mut detail = BTreeMap::new();
        detail.insert("user".to_owned(), login.as_str().to_owned());
        detail.insert("session".to_owned(), session_id(&hash));
        self.items
            .transact(vec![
                crate::store::TxOp::Delete { key: keys::session(&hash), condition: None },
                audit::event(principal.login(), "session-revoke", None, None, detail)?,
            ])
            .await?;
        self.own_sessions(Some(principal), current_secret).await
    }

    /// Ends every web session of the caller, the current one included. Through a web session only.
    pub async fn sign_out_everywhere(&self, principal: Option<&Principal>) -> DomainResult<usize> {
        let principal = require_session(principal)?;
        let login = Login::parse(principal.login())?;
        self.revoke_user_sessions(principal.login(), &login).await
    }

    /// The stored sessions of a user with their key hashes (GSI1 `USER#{login}`, `SESSION#`).
    async fn sessions_of(&self, login: &Login) -> DomainResult<Vec<(String, SessionRecord)>> {
        let q = Query::on_index(Index::ByOwner, keys::user_pk(login)).prefix(keys::SESSION_GSI_PREFIX);
        let mut out = Vec::new();
        for item in query_all(self.items.as_ref(), &q).await? {
            let Some(hash) =
                item.get_str(Index::ByOwner.sk_attr()).and_then(|sk| sk.strip_prefix(keys::SESSION_GSI_PREFIX))
            else {
                continue;
            };
            out.push((hash.to_owned(), item.to_entity()?));
        }
        Ok(out)
    }
}
