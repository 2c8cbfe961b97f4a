//! Local accounts (the embedded home): passwords hashed with Argon2id, sign-in rate limited per
//! client address and per login and address, and slowed down per login
//! ([`Registry::password_login`]).
//!
//! The hash (a PHC string) lives on the user item (`password_hash`); it never leaves the domain:
//! views and API types do not carry it, and its `Debug` is redacted.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash as PhcHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::domain::{DomainError, DomainResult, Login};
use crate::model::{PasswordHash, UserRecord, keys};
use crate::store::{Condition, TxOp, Update};

use super::retry::Attempts;
use super::sessions::MAX_LOGIN_SLOWDOWN_SECS;
use super::{Registry, audit};

/// Shortest password accepted (characters).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (bytes); bounds the hashing work an attacker can ask for.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Optimistic-locking retries of a password change.
const MAX_ATTEMPTS: u32 = 8;
/// The one message for every failed sign-in (unknown login, no password, wrong password): it must
/// not tell which logins exist.
const INVALID_CREDENTIALS: &str = "invalid login or password";

/// Checks the password policy.
pub fn validate_new_password(password: &str) -> DomainResult<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(DomainError::bad_request(format!(
            "passwords must be at least {MIN_PASSWORD_CHARS} characters long"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(DomainError::bad_request(format!("passwords must be at most {MAX_PASSWORD_BYTES} bytes long")));
    }
    if password.chars().any(char::is_control) {
        return Err(DomainError::bad_request("passwords may not contain control characters"));
    }
    Ok(())
}

/// Argon2id (version 19, default parameters: 19 MiB, 2 passes) with a random salt, as a PHC string.
pub fn hash_password(password: &str) -> DomainResult<String> {
    let hash: PhcHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| DomainError::internal(format!("password hashing failed: {e}")))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored` (the comparison is constant time). A
/// malformed stored hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PhcHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the login is unknown so that a failed
/// sign-in takes as long whether or not the login exists.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password(&super::sessions::random_secret(24)).unwrap_or_default())
}

/// Runs the (deliberately slow) verification off the async workers.
pub(crate) async fn verify_blocking(password: &str, stored: Option<String>) -> DomainResult<bool> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify_password(&password, &stored),
        None => {
            let _ = verify_password(&password, decoy_hash());
            false
        }
    })
    .await
    .map_err(|e| DomainError::internal(format!("password verification task failed: {e}")))
}

impl Registry {
    /// Sets (or replaces) a user's password, and ends the user's web sessions. `actor` is who
    /// asked (`cli`, or the user).
    pub async fn set_password(&self, actor: &str, login: &Login, password: &str) -> DomainResult<()> {
        self.write_password(actor, login, password, "password-set").await?;
        self.revoke_user_sessions(actor, login).await?;
        Ok(())
    }

    /// Hashes and stores a new password for `login`, with an audit event `action`; sessions are
    /// left to the caller.
    pub(crate) async fn write_password(
        &self,
        actor: &str,
        login: &Login,
        password: &str,
        action: &str,
    ) -> DomainResult<()> {
        validate_new_password(password)?;
        let owned = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || hash_password(&owned))
            .await
            .map_err(|e| DomainError::internal(format!("password hashing task failed: {e}")))??;
        let mut done = false;
        let mut attempts = Attempts::new(MAX_ATTEMPTS);
        while attempts.next().await.is_some() {
            let Some(user) = self.get_user(login).await? else {
                return Err(DomainError::not_found(format!("no user with login `{login}`")));
            };
            let condition = if user.revision == 0 {
                Condition::AttrNotExists("revision".into())
            } else {
                Condition::AttrEquals("revision".into(), user.revision.into())
            };
            let update = Update::new().set("password_hash", hash.clone()).set("revision", user.revision + 1);
            let mut detail = BTreeMap::new();
            detail.insert("user".to_owned(), login.as_str().to_owned());
            let ops = vec![
                TxOp::Update { key: keys::user(login), update, condition: Some(condition) },
                audit::event(actor, action, None, None, detail)?,
            ];
            match self.items.transact(ops).await {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(e) if e.failed_condition_at(0) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if !done {
            return Err(DomainError::conflict(format!("user `{login}` is being changed concurrently; please retry")));
        }
        tracing::info!(user = %login, by = actor, action, "password set");
        Ok(())
    }

    /// Checks a local sign-in. Every failure reads "invalid login or password", whatever the
    /// reason. Attempts are counted before the password is verified, and refunded on success:
    /// - per client address (`attempts_per_address`, refused with `RateLimited` beyond it), when
    ///   the address is known;
    /// - per login and client address (`attempts_per_login`, refused beyond it): a guesser is
    ///   stopped, the real user signing in from another address is not. Requests without an address
    ///   share one "unknown" address per login;
    /// - per login from everywhere: beyond `login_slowdown_after` attempts in the window each
    ///   attempt waits 1 s, 2 s, 4 s … (at most [`MAX_LOGIN_SLOWDOWN_SECS`]) before it is checked;
    ///   slowed down, never refused, so nobody can lock an account out.
    pub async fn password_login(
        &self,
        raw_login: &str,
        password: &str,
        client_address: Option<&str>,
    ) -> DomainResult<UserRecord> {
        let limits = &self.config.sessions;
        let by_address = match client_address {
            Some(addr) => Some(self.count_attempt("addr", addr, limits.attempts_per_address, "this address").await?),
            None => None,
        };
        let subject = raw_login.trim().to_ascii_lowercase();
        let subject: String = subject.chars().take(128).collect();
        let pair = format!("{subject}\0{}", client_address.unwrap_or("unknown"));
        let by_pair = self
            .count_attempt("login-addr", &pair, limits.attempts_per_login, "this account from this address")
            .await?;
        let (by_login, count, _) = self.add_attempt("login", &subject, limits.attempts_per_login.window_secs).await?;
        let over = count - i64::from(limits.login_slowdown_after);
        if over > 0 {
            let delay = 1u64.checked_shl(u32::try_from(over - 1).unwrap_or(u32::MAX).min(16)).unwrap_or(u64::MAX);
            let delay = delay.min(MAX_LOGIN_SLOWDOWN_SECS);
            tracing::warn!(delay_secs = delay, "many sign-in attempts for one account: slowing down");
            tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
        }

        let user = match Login::parse(raw_login.trim()) {
            Ok(login) => self.get_user(&login).await?,
            Err(_) => None,
        };
        let stored = user.as_ref().and_then(|u| u.password_hash.as_ref()).map(|h: &PasswordHash| h.0.clone());
        let ok = password.len() <= MAX_PASSWORD_BYTES && verify_blocking(password, stored).await?;
        let Some(user) = user.filter(|_| ok) else {
            tracing::info!("failed password sign-in");
            return Err(DomainError::unauthenticated(INVALID_CREDENTIALS));
        };
        self.refund_attempt(&by_login).await;
        self.refund_attempt(&by_pair).await;
        if let Some(attempt) = &by_address {
            self.refund_attempt(attempt).await;
        }
        if user.disabled {
            return Err(DomainError::unauthenticated(format!("the account `{}` is disabled", user.login)));
        }
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash_password("correct horse battery staple").unwrap();
        let b = hash_password("correct horse battery staple").unwrap();
        assert!(a.starts_with("$argon2id$v=19$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify_password("correct horse battery staple", &a));
        assert!(verify_password("correct horse battery staple", &b));
        assert!(!verify_password("correct horse battery stapl", &a));
        assert!(!verify_password("", &a));
        assert!(!verify_password("correct horse battery staple", "not a hash"));
        assert!(!verify_password("correct horse battery staple", ""));
    }

    #[test]
    fn policy() {
        assert!(validate_new_password("short").is_err());
        assert!(validate_new_password("elevenchars").is_err());
        assert!(validate_new_password("twelve chars").is_ok());
        // Characters, not bytes: 12 multi-byte characters are enough.
        assert!(validate_new_password("ééééééééééé").is_err());
        assert!(validate_new_password("éééééééééééé").is_ok());
        assert!(validate_new_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        assert!(validate_new_password("twelve chars\n").is_err());
    }

    #[test]
    fn the_decoy_never_matches() {
        assert!(decoy_hash().starts_with("$argon2id$"));
        assert!(!verify_password("", decoy_hash()));
    }

    #[test]
    fn hash_debug_is_redacted() {
        let h = PasswordHash(hash_password("twelve chars").unwrap());
        assert!(!format!("{h:?}").contains("argon2"));
    }
}
