//! Web sessions: the server runs the login (backend-for-frontend) and the browser holds only an
//! opaque, random session secret in an `HttpOnly` cookie; never an OAuth token.
//!
//! A session is an item keyed by the SHA-256 of its secret, with an absolute expiry (`expires_unix`,
//! also the DynamoDB `ttl`). It is revocable (logout, "sign out everywhere") and every use re-reads
//! the user: a disabled or deleted user's sessions stop working at once, like their tokens.
//!
//! CSRF: each session has its own CSRF token, derived from the session secret with a domain-separated
//! SHA-256 ([`csrf_token_for`]). Only someone holding the cookie value can compute it; the server can
//! check a presented token from the request's cookie alone (no store read), and pages can embed it in
//! forms. A database reader sees neither the secret nor the CSRF token.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::{DomainError, DomainResult, Login};
use crate::model::Entity as _;
use crate::model::{Role, SessionRecord, UserRecord, keys};
use crate::store::{Condition, Index, Query, TxOp, Update, query_all};

use super::auth::{Principal, hash_token};
use super::ratelimit::RateLimit;
use super::{Registry, audit, clock};

/// Random bytes in a session secret (256 bits; 43 characters of base64url).
const SESSION_SECRET_BYTES: usize = 32;
/// How often the last-seen time of a session is written at most (seconds).
const LAST_SEEN_GRANULARITY: i64 = 300;
/// Domain separation of the CSRF token derivation.
const CSRF_CONTEXT: &[u8] = b"raktar-csrf-v1\0";

/// The longest a password sign-in is slowed down under the per-login ceiling (seconds).
pub const MAX_LOGIN_SLOWDOWN_SECS: u64 = 8;

/// Session and web-login settings.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Absolute lifetime of a web session in seconds (default 12 hours).
    pub lifetime_secs: i64,
    /// Password sign-in attempts allowed per login *from one client address* and per window (a
    /// guesser from one place is stopped without locking the real user out from elsewhere).
    pub attempts_per_login: RateLimit,
    /// Password sign-in attempts allowed per client address and per window.
    pub attempts_per_address: RateLimit,
    /// Attempts per login from all addresses together in one window (of `attempts_per_login`)
    /// after which each further attempt is slowed down: 1 s, 2 s, 4 s … up to
    /// [`MAX_LOGIN_SLOWDOWN_SECS`], never refused.
    pub login_slowdown_after: u32,
    /// Single sign-on: e-mail domains whose verified addresses link an existing account of the same
    /// login (the local part) on the first sign-in. Empty (the default): only administrators link.
    pub link_verified_email_domains: Vec<String>,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            lifetime_secs: 12 * 3600,
            attempts_per_login: RateLimit { max_attempts: 10, window_secs: 15 * 60 },
            attempts_per_address: RateLimit { max_attempts: 50, window_secs: 15 * 60 },
            login_slowdown_after: 20,
            link_verified_email_domains: Vec::new(),
        }
    }
}

/// How a session was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMethod {
    Password,
    Oidc,
}

impl SessionMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionMethod::Password => "password",
            SessionMethod::Oidc => "oidc",
        }
    }
}

/// A session secret (the cookie value). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret(String);

impl SessionSecret {
    /// The value to put in the cookie.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The CSRF token of this session.
    pub fn csrf_token(&self) -> String {
        csrf_token_for(&self.0)
    }
}

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret([redacted])")
    }
}

/// A freshly opened session.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub secret: SessionSecret,
    pub expires_at: String,
    pub expires_unix: i64,
    /// Seconds until expiry (the cookie's `Max-Age`).
    pub lifetime_secs: i64,
}

/// The CSRF token of the session whose secret is `session_secret`.
pub fn csrf_token_for(session_secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(CSRF_CONTEXT);
    h.update(session_secret.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// Whether `presented` is the CSRF token of the session `session_secret` (constant time).
pub fn csrf_matches(session_secret: &str, presented: &str) -> bool {
    let expected = csrf_token_for(session_secret);
    expected.len() == presented.len() && bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
}

/// A random URL-safe secret of `bytes` random bytes.
pub(crate) fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Whether a presented session secret has the shape of one (before any store read).
fn well_formed_secret(secret: &str) -> bool {
    secret.len() == 43 && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Principal {
    /// The local operator: someone running `raktar` admin commands with access to the data
    /// directory. Acts as an administrator with a session's full rights; audited as `cli`.
    pub fn operator() -> Self {
        Principal {
            user: UserRecord {
                id: 0,
                login: "cli".to_owned(),
                name: Some("raktar command line".to_owned()),
                email: None,
                role: Role::Admin,
                disabled: false,
                created_at: clock::now_string(),
                revision: 0,
                password_hash: None,
                external_id: None,
            },
            token: None,
            marker: None,
            partial_user: false,
        }
    }
}

impl Registry {
    /// Opens a web session for an existing, enabled user.
    pub async fn create_session(&self, login: &Login, method: SessionMethod) -> DomainResult<NewSession> {
        let user = self
            .get_user(login)
            .await?
            .ok_or_else(|| DomainError::unauthenticated(format!("no user with login `{login}`")))?;
        if user.disabled {
            return Err(DomainError::unauthenticated(format!("the account `{login}` is disabled")));
        }
        let lifetime = self.config.sessions.lifetime_secs.max(60);
        let now = clock::now();
        let expires = now + time::Duration::seconds(lifetime);
        let secret = SessionSecret(random_secret(SESSION_SECRET_BYTES));
        let hash = hash_token(secret.expose());
        let record = SessionRecord {
            login: login.as_str().to_owned(),
            method: method.as_str().to_owned(),
            created_at: clock::format(now),
            expires_at: clock::format(expires),
            expires_unix: expires.unix_timestamp(),
            ttl: expires.unix_timestamp(),
            last_seen_unix: Some(now.unix_timestamp()),
        };
        let mut detail = BTreeMap::new();
        detail.insert("user".to_owned(), login.as_str().to_owned());
        detail.insert("method".to_owned(), method.as_str().to_owned());
        let ops = vec![
            TxOp::Put { item: record.item((&hash, login))?, condition: Some(Condition::NotExists) },
            audit::event(login.as_str(), "session-create", None, None, detail)?,
        ];
        self.items.transact(ops).await?;
        // A disable that ran between the check above and the write would not have seen this
        // session: look again, and take the session back if so.
        if self.get_user(login).await?.is_none_or(|u| u.disabled) {
            self.items.delete(&keys::session(&hash), None).await?;
            return Err(DomainError::unauthenticated(format!("the account `{login}` is disabled")));
        }
        tracing::info!(user = %login, method = method.as_str(), "web session opened");
        Ok(NewSession {
            secret,
            expires_at: record.expires_at,
            expires_unix: record.expires_unix,
            lifetime_secs: lifetime,
        })
    }

    /// Resolves a session secret (the cookie value) to a principal with the user's full rights
    /// (`token: None`). Missing, revoked or expired sessions and missing or disabled users are
    /// `Unauthenticated`.
    pub async fn resolve_session(&self, secret: &str) -> DomainResult<Principal> {
        if !well_formed_secret(secret) {
            return Err(DomainError::unauthenticated("the session cookie is invalid; sign in again"));
        }
        let hash = hash_token(secret);
        let key = keys::session(&hash);
        let Some(item) = self.items.get(&key).await? else {
            return Err(DomainError::unauthenticated("the session has ended; sign in again"));
        };
        let session: SessionRecord = item.to_entity()?;
        let now = clock::unix_now();
        if session.expires_unix <= now {
            // Expired items vanish by TTL on DynamoDB; the embedded store needs a hand.
            if let Err(e) = self.items.delete(&key, None).await {
                tracing::warn!(error = %e, "could not delete an expired session");
            }
            return Err(DomainError::unauthenticated("the session expired; sign in again"));
        }
        let login =
            Login::parse(&session.login).map_err(|_| DomainError::internal("stored session has an invalid login"))?;
        let Some(user) = self.get_user(&login).await? else {
            return Err(DomainError::unauthenticated("the session's user no longer exists"));
        };
        if user.disabled {
            return Err(DomainError::unauthenticated(format!("the account `{}` is disabled", user.login)));
        }
        if session.last_seen_unix.is_none_or(|t| now - t >= LAST_SEEN_GRANULARITY) {
            // Best effort, off the request path.
            let items = self.items.clone();
            tokio::spawn(async move {
                let update = Update::new().set("last_seen_unix", now);
                if let Err(e) = items.update(&key, update, Some(Condition::Exists)).await
                    && !e.is_condition_failure()
                {
                    tracing::warn!(error = %e, "could not record session last-seen time");
                }
            });
        }
        Ok(Principal::new(user, None))
    }

    /// Ends one session (logout). Ending an unknown or already ended session succeeds.
    pub async fn revoke_session(&self, secret: &str) -> DomainResult<()> {
        if !well_formed_secret(secret) {
            return Ok(());
        }
        self.items.delete(&keys::session(&hash_token(secret)), None).await?;
        Ok(())
    }

    /// Ends every session of a user ("sign out everywhere"; also after a password change). Returns
    /// how many were ended.
    pub async fn revoke_user_sessions(&self, actor: &str, login: &Login) -> DomainResult<usize> {
        self.revoke_user_sessions_except(actor, login, None).await
    }

    /// Ends every session of a user but the one whose secret is `keep` (the caller's own, after a
    /// password change). Returns how many were ended.
    pub(crate) async fn revoke_user_sessions_except(
        &self,
        actor: &str,
        login: &Login,
        keep: Option<&str>,
    ) -> DomainResult<usize> {
        let kept = keep.map(|s| keys::session(&hash_token(s)));
        let q = Query::on_index(Index::ByOwner, keys::user_pk(login)).prefix(keys::SESSION_GSI_PREFIX);
        let mut ended = 0;
        for item in query_all(self.items.as_ref(), &q).await? {
            let Some(key) = item.key() else { continue };
            if kept.as_ref() == Some(&key) {
                continue;
            }
            self.items.delete(&key, None).await?;
            ended += 1;
        }
        if ended > 0 {
            let mut detail = BTreeMap::new();
            detail.insert("user".to_owned(), login.as_str().to_owned());
            detail.insert("sessions".to_owned(), ended.to_string());
            if let Err(e) = self.items.transact(vec![audit::event(actor, "sessions-revoke", None, None, detail)?]).await
            {
                tracing::warn!(error = %e, "could not record the session revocation in the audit log");
            }
            tracing::info!(user = %login, sessions = ended, "web sessions revoked");
        }
        Ok(ended)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_are_random_and_well_formed() {
        let a = random_secret(SESSION_SECRET_BYTES);
        let b = random_secret(SESSION_SECRET_BYTES);
        assert_ne!(a, b);
        assert!(well_formed_secret(&a), "{a}");
        assert!(!well_formed_secret("short"));
        assert!(!well_formed_secret(&format!("{}!", &a[..42])));
    }

    #[test]
    fn csrf_token_is_bound_to_the_session() {
        let a = random_secret(SESSION_SECRET_BYTES);
        let b = random_secret(SESSION_SECRET_BYTES);
        let ta = csrf_token_for(&a);
        assert!(csrf_matches(&a, &ta));
        assert!(!csrf_matches(&b, &ta), "another session's token must not match");
        assert!(!csrf_matches(&a, ""));
        assert!(!csrf_matches(&a, &ta[..ta.len() - 1]));
        assert_ne!(ta, a, "the token must not reveal the session secret");
        assert_ne!(ta, hash_token(&a), "the token must differ from the stored session key hash");
        // Stable: pages and the check agree.
        assert_eq!(ta, csrf_token_for(&a));
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = SessionSecret(random_secret(SESSION_SECRET_BYTES));
        assert!(!format!("{s:?}").contains(s.expose()));
    }
}
