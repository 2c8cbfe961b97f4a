//! Single sign-on (OIDC) on the domain side: in-flight sign-ins and users from verified claims.
//!
//! The protocol itself (discovery, PKCE, code exchange, ID-token verification) is an edge concern
//! (`raktar-http`); it hands over an [`ExternalIdentity`] only after the ID token verified.
//!
//! In-flight sign-ins are short-lived items (`OIDCSTATE#{sha256(state)}`) holding the PKCE verifier,
//! the nonce and where to continue; the callback consumes the item exactly once (conditional delete),
//! so a replayed callback fails. Items work across processes and Lambda instances without a shared
//! signing key, and the PKCE verifier never travels through the browser.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::domain::{DomainError, DomainResult, Login};
use crate::model::{Role, SsoLoginRecord, UserRecord, keys};
use crate::store::{Condition, Item, TxOp, Update};

use super::auth::hash_token;
use super::sessions::random_secret;
use super::{Registry, audit, clock};

/// How long a started sign-in may take (seconds).
pub const SSO_LOGIN_LIFETIME: i64 = 10 * 60;
/// Optimistic-locking retries of a user upsert.
const MAX_ATTEMPTS: usize = 8;

/// A user as the identity provider describes them, from a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    pub issuer: String,
    pub subject: String,
    pub login: Login,
    pub name: Option<String>,
    pub email: Option<String>,
    /// `Some` when the provider decides the role (an admin group is configured); `None` leaves the
    /// role alone (new users are members).
    pub role: Option<Role>,
}

impl ExternalIdentity {
    /// The binding stored on the user (`{issuer} {subject}`).
    pub fn external_id(&self) -> String {
        format!("{} {}", self.issuer, self.subject)
    }
}

/// An in-flight sign-in.
#[derive(Clone, PartialEq, Eq)]
pub struct SsoLogin {
    /// The `state` parameter (also kept in a short-lived cookie to bind the callback to the browser
    /// that started the sign-in).
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    /// Local path to continue at.
    pub next: String,
}

impl SsoLogin {
    /// The PKCE `code_challenge` (method `S256`).
    pub fn pkce_challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.pkce_verifier.as_bytes()))
    }
}

impl std::fmt::Debug for SsoLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoLogin").field("next", &self.next).finish_non_exhaustive()
    }
}

/// Whether `next` is a path on this server (not `//host`, not a scheme), so redirects stay local.
/// Printable ASCII only (anything else arrives percent-encoded), so it is always a valid header.
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 512
        && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

fn clean_text(value: Option<String>, max_chars: usize) -> Option<String> {
    let v = value?.trim().to_owned();
    if v.is_empty() || v.chars().any(char::is_control) {
        return None;
    }
    Some(v.chars().take(max_chars).collect())
}

impl Registry {
    /// Starts a sign-in: fresh `state`, `nonce` and PKCE verifier, stored for [`SSO_LOGIN_LIFETIME`].
    pub async fn begin_sso_login(&self, next: &str) -> DomainResult<SsoLogin> {
        let next = if is_local_path(next) { next.to_owned() } else { "/me".to_owned() };
        let login = SsoLogin {
            state: random_secret(32),
            nonce: random_secret(32),
            pkce_verifier: random_secret(32),
            next: next.clone(),
        };
        let expires = clock::unix_now() + SSO_LOGIN_LIFETIME;
        let record = SsoLoginRecord {
            nonce: login.nonce.clone(),
            pkce_verifier: login.pkce_verifier.clone(),
            next,
            expires_unix: expires,
            ttl: expires,
        };
        let key = keys::sso_login(&hash_token(&login.state));
        self.items.put(Item::from_entity(&key, keys::types::SSO_LOGIN, &record)?, Some(Condition::NotExists)).await?;
        Ok(login)
    }

    /// Consumes a started sign-in by its `state` (once: a second call fails).
    pub async fn finish_sso_login(&self, state: &str) -> DomainResult<SsoLogin> {
        let expired = || DomainError::unauthenticated("the sign-in expired or was already used; start again");
        if state.is_empty() || state.len() > 128 {
            return Err(expired());
        }
        let key = keys::sso_login(&hash_token(state));
        let Some(item) = self.items.get(&key).await? else { return Err(expired()) };
        let record: SsoLoginRecord = item.to_entity()?;
        match self.items.delete(&key, Some(Condition::Exists)).await {
            Ok(()) => {}
            Err(e) if e.is_condition_failure() => return Err(expired()),
            Err(e) => return Err(e.into()),
        }
        if record.expires_unix <= clock::unix_now() {
            return Err(expired());
        }
        Ok(SsoLogin {
            state: state.to_owned(),
            nonce: record.nonce,
            pkce_verifier: record.pkce_verifier,
            next: record.next,
        })
    }

    /// Creates or updates the user of a verified external identity. A user is bound to the first
    /// identity that signs in as it; another subject claiming the same login is refused. A disabled
    /// user stays disabled (and cannot sign in).
    pub async fn upsert_sso_user(&self, identity: &ExternalIdentity) -> DomainResult<UserRecord> {
        let login = &identity.login;
        let external_id = identity.external_id();
        let name = clean_text(identity.name.clone(), 128);
        let email = clean_text(identity.email.clone(), 254);
        for _ in 0..MAX_ATTEMPTS {
            let Some(user) = self.get_user(login).await? else {
                match self.create_sso_user(identity, &external_id, name.clone(), email.clone()).await {
                    Ok(user) => return Ok(user),
                    Err(DomainError::Conflict(_)) => continue, // created concurrently: update it
                    Err(e) => return Err(e),
                }
            };
            if let Some(bound) = &user.external_id
                && bound != &external_id
            {
                tracing::warn!(user = %login, "single sign-on refused: the login is bound to another identity");
                return Err(DomainError::forbidden(format!(
                    "the login `{login}` belongs to another account of the identity provider; ask an administrator"
                )));
            }
            if user.disabled {
                return Err(DomainError::unauthenticated(format!("the account `{login}` is disabled")));
            }
            let role = identity.role.unwrap_or(user.role);
            let mut detail = BTreeMap::new();
            let mut update = Update::new();
            if user.name != name {
                update = match &name {
                    Some(n) => update.set("name", n.clone()),
                    None => update.remove("name"),
                };
                detail.insert("name".to_owned(), name.clone().unwrap_or_default());
            }
            if user.email != email {
                update = match &email {
                    Some(e) => update.set("email", e.clone()),
                    None => update.remove("email"),
                };
                detail.insert("email".to_owned(), email.clone().unwrap_or_default());
            }
            if user.role != role {
                update = update.set("role", role.as_str());
                detail.insert("previous_role".to_owned(), user.role.as_str().to_owned());
                detail.insert("role".to_owned(), role.as_str().to_owned());
            }
            if user.external_id.is_none() {
                update = update.set("external_id", external_id.clone());
                detail.insert("bound".to_owned(), "oidc".to_owned());
            }
            if detail.is_empty() {
                return Ok(user);
            }
            detail.insert("user".to_owned(), login.as_str().to_owned());
            let condition = if user.revision == 0 {
                Condition::AttrNotExists("revision".into())
            } else {
                Condition::AttrEquals("revision".into(), user.revision.into())
            };
            let ops = vec![
                TxOp::Update {
                    key: keys::user(login),
                    update: update.set("revision", user.revision + 1),
                    condition: Some(condition),
                },
                audit::event("oidc", "user-update", None, None, detail)?,
            ];
            match self.items.transact(ops).await {
                Ok(()) => {
                    tracing::info!(user = %login, role = role.as_str(), "user updated from the identity provider");
                    return self
                        .get_user(login)
                        .await?
                        .ok_or_else(|| DomainError::internal("user vanished right after its update"));
                }
                Err(e) if e.failed_condition_at(0) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::conflict(format!("user `{login}` is being changed concurrently; please retry")))
    }

    async fn create_sso_user(
        &self,
        identity: &ExternalIdentity,
        external_id: &str,
        name: Option<String>,
        email: Option<String>,
    ) -> DomainResult<UserRecord> {
        self.insert_user(super::users::NewUser {
            actor: "oidc",
            login: &identity.login,
            name,
            email,
            role: identity.role.unwrap_or(crate::model::Role::Member),
            external_id: Some(external_id.to_owned()),
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_only() {
        assert!(is_local_path("/me"));
        assert!(is_local_path("/crates/serde?tab=versions"));
        assert!(!is_local_path("//evil.example/me"));
        assert!(!is_local_path("/\\evil.example"));
        assert!(!is_local_path("https://evil.example/"));
        assert!(!is_local_path("me"));
        assert!(!is_local_path("/a\nb"));
        assert!(!is_local_path(""));
        assert!(!is_local_path("/caf\u{e9}"));
        assert!(!is_local_path("/a b"));
    }

    #[test]
    fn pkce_challenge_is_s256() {
        // RFC 7636, appendix B.
        let login = SsoLogin {
            state: String::new(),
            nonce: String::new(),
            pkce_verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            next: "/me".into(),
        };
        assert_eq!(login.pkce_challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn debug_hides_secrets() {
        let login = SsoLogin {
            state: "state-secret".into(),
            nonce: "nonce-secret".into(),
            pkce_verifier: "verifier-secret".into(),
            next: "/me".into(),
        };
        let s = format!("{login:?}");
        assert!(!s.contains("secret"), "{s}");
    }
}
