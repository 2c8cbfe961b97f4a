//! Single sign-on (OIDC) on the domain side: in-flight sign-ins and users from verified claims.
//!
//! The protocol itself (discovery, PKCE, code exchange, ID-token verification) is an edge concern
//! (`raktar-http`); it hands over an [`ExternalIdentity`] only after the ID token verified.
//!
//! In-flight sign-ins are short-lived items (`OIDCSTATE#{sha256(state)}`) holding the PKCE verifier,
//! the nonce and where to continue; the callback consumes the item exactly once (conditional delete),
//! so a replayed callback fails. Items work across processes and Lambda instances without a shared
//! signing key, and the PKCE verifier never travels through the browser.
//!
//! Accounts are bound to the identity's `(issuer, subject)` (an `IDENTITY#…` item pointing at the
//! user), never to a login or e-mail that merely looks the same. The first sign-in of an identity
//! without a binding:
//! 1. binds the account whose legacy `external_id` is exactly `{issuer} {subject}` (bindings made
//!    before identity items existed);
//! 2. else, only when `link_verified_email_domains` is configured (off by default), binds an
//!    existing account if the provider says `email_verified = true`, the e-mail's domain is listed,
//!    the account's login is the e-mail's local part, the account has no external identity yet and
//!    its stored e-mail, if any, is the same address;
//! 3. else creates a new account under the derived login, or, when that login is taken, under a
//!    distinct one (`alice-2` … `alice-9`, then `alice-<digest>`): never someone else's account.
//!
//! Administrators link and unlink identities explicitly ([`Registry::link_identity`]). Every
//! binding is a put conditioned on the item not existing, so two concurrent first sign-ins of one
//! identity create one binding (the loser reads it). A user's e-mail is only ever set from a claim
//! the provider marks verified.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::domain::{DomainError, DomainResult, Login};
use crate::model::Entity as _;
use crate::model::{IdentityRecord, Role, SsoLoginRecord, UserRecord, keys};
use crate::store::{Condition, Index, Query, TxOp, Update, query_all};

use super::auth::{Principal, hash_token};
use super::retry::Attempts;
use super::sessions::random_secret;
use super::users::{InsertError, NewUser};
use super::{Registry, audit, clock};

/// How long a started sign-in may take (seconds).
pub const SSO_LOGIN_LIFETIME: i64 = 10 * 60;
/// Optimistic-locking retries of a user upsert.
const MAX_ATTEMPTS: u32 = 8;

/// A user as the identity provider describes them, from a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    pub issuer: String,
    pub subject: String,
    pub login: Login,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The provider's `email_verified` claim: `email` is only stored, and only counts for the
    /// e-mail domain rule, when this is true.
    pub email_verified: bool,
    /// `Some` when the provider decides the role (an admin group is configured); `None` leaves the
    /// role alone (new users are members).
    pub role: Option<Role>,
}

impl ExternalIdentity {
    /// The legacy binding stored on users before identity items (`{issuer} {subject}`).
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
        self.items.put(record.item(&hash_token(&login.state))?, Some(Condition::NotExists)).await?;
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

    /// The user of a verified external identity, created on its first sign-in. See the module
    /// documentation for the rules: the account is found by the identity's `(issuer, subject)`
    /// binding only; an existing account is linked only by an administrator, by a user's legacy
    /// `external_id`, or by the opt-in verified e-mail domain rule; any other first sign-in gets a
    /// new account whose login never collides with an existing one. A disabled user stays disabled
    /// (and cannot sign in).
    pub async fn upsert_sso_user(&self, identity: &ExternalIdentity) -> DomainResult<UserRecord> {
        check_identity_parts(&identity.issuer, &identity.subject)?;
        let hash = keys::identity_hash(&identity.issuer, &identity.subject);
        let mut attempts = Attempts::new(MAX_ATTEMPTS);
        while attempts.next().await.is_some() {
            if let Some(binding) = self.get_identity(&hash).await? {
                let login = Login::parse(&binding.login)
                    .map_err(|_| DomainError::internal("stored identity binding has an invalid login"))?;
                return self.refresh_sso_user(&login, identity).await;
            }
            match self.bind_first_sign_in(identity).await? {
                FirstSignIn::Created(user) => return Ok(user),
                FirstSignIn::Linked(login) => return self.refresh_sso_user(&login, identity).await,
                // Another sign-in of the same identity bound it first: read its binding.
                FirstSignIn::Raced => continue,
            }
        }
        Err(DomainError::conflict("this identity is being signed in concurrently; please retry"))
    }

    /// The binding of an identity (by [`keys::identity_hash`]).
    async fn get_identity(&self, hash: &str) -> DomainResult<Option<IdentityRecord>> {
        Ok(match self.items.get(&keys::identity(hash)).await? {
            Some(item) => Some(item.to_entity()?),
            None => None,
        })
    }

    /// The external identities bound to a user.
    pub async fn user_identities(&self, login: &Login) -> DomainResult<Vec<IdentityRecord>> {
        let q = Query::on_index(Index::ByOwner, keys::user_pk(login)).prefix(keys::IDENTITY_GSI_PREFIX);
        query_all(self.items.as_ref(), &q).await?.iter().map(|i| Ok(i.to_entity()?)).collect()
    }

    /// Writes a binding for an existing account (`Ok(false)`: the identity was bound concurrently).
    async fn bind_existing(&self, identity: &ExternalIdentity, login: &Login, how: &str) -> DomainResult<bool> {
        let record = new_binding(&identity.issuer, &identity.subject, login, how);
        let mut detail = BTreeMap::new();
        detail.insert("user".to_owned(), login.as_str().to_owned());
        detail.insert("issuer".to_owned(), identity.issuer.clone());
        detail.insert("subject".to_owned(), identity.subject.clone());
        detail.insert("rule".to_owned(), how.to_owned());
        let ops = vec![identity_put(&record)?, audit::event("oidc", "identity-link", None, None, detail)?];
        match self.items.transact(ops).await {
            Ok(()) => {
                tracing::info!(user = %login, rule = how, "external identity linked to an existing account");
                Ok(true)
            }
            Err(e) if e.failed_condition_at(0) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The first sign-in of an identity without a binding.
    async fn bind_first_sign_in(&self, identity: &ExternalIdentity) -> DomainResult<FirstSignIn> {
        let derived = &identity.login;
        // Legacy: users bound before identity items existed carry `{issuer} {subject}`.
        if let Some(user) = self.get_user(derived).await?
            && user.external_id.as_deref() == Some(identity.external_id().as_str())
        {
            return Ok(if self.bind_existing(identity, derived, "legacy").await? {
                FirstSignIn::Linked(derived.clone())
            } else {
                FirstSignIn::Raced
            });
        }
        // The opt-in rule: a verified e-mail in an allowed domain names the account by its local part.
        if let Some(login) = self.email_rule_candidate(identity).await? {
            return Ok(if self.bind_existing(identity, &login, "email-domain").await? {
                FirstSignIn::Linked(login)
            } else {
                FirstSignIn::Raced
            });
        }
        // A new account, under the derived login or, when that is taken, a distinct one.
        let name = clean_text(identity.name.clone(), 128);
        let email = if identity.email_verified { clean_text(identity.email.clone(), 254) } else { None };
        for login in login_candidates(derived, &identity.issuer, &identity.subject) {
            if self.get_user(&login).await?.is_some() {
                continue;
            }
            let binding = new_binding(&identity.issuer, &identity.subject, &login, "oidc");
            let new = NewUser {
                actor: "oidc",
                login: &login,
                name: name.clone(),
                email: email.clone(),
                role: identity.role.unwrap_or(Role::Member),
                identity: Some(binding),
            };
            match self.insert_user(new).await {
                Ok(user) => {
                    if &login != derived {
                        tracing::info!(user = %login, derived = %derived,
                            "single sign-on created a new account: the derived login belongs to another account");
                    }
                    return Ok(FirstSignIn::Created(user));
                }
                Err(InsertError::LoginTaken) => continue,
                Err(InsertError::IdentityTaken) => return Ok(FirstSignIn::Raced),
                Err(InsertError::Other(e)) => return Err(e),
            }
        }
        Err(DomainError::conflict(format!(
            "no free login could be derived from `{derived}`; ask an administrator to create and link your account"
        )))
    }

    /// The account the verified e-mail domain rule links, if it applies: the provider says the
    /// e-mail is verified, its domain is in `link_verified_email_domains`, an account exists
    /// whose login is the e-mail's local part, that account has no external identity yet, and its
    /// stored e-mail (if any) is the same address.
    async fn email_rule_candidate(&self, identity: &ExternalIdentity) -> DomainResult<Option<Login>> {
        let domains = &self.config.sessions.link_verified_email_domains;
        if domains.is_empty() || !identity.email_verified {
            return Ok(None);
        }
        let Some(email) = identity.email.as_deref().map(str::trim) else { return Ok(None) };
        let Some((local, domain)) = email.rsplit_once('@') else { return Ok(None) };
        if !domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
            return Ok(None);
        }
        let Ok(login) = Login::parse(local) else { return Ok(None) };
        let Some(user) = self.get_user(&login).await? else { return Ok(None) };
        if user.external_id.is_some() || !self.user_identities(&login).await?.is_empty() {
            return Ok(None);
        }
        if user.email.as_deref().is_some_and(|stored| !stored.eq_ignore_ascii_case(email)) {
            return Ok(None);
        }
        Ok(Some(login))
    }

    /// Updates a bound user from the identity's claims: display name; e-mail only when the
    /// provider says it is verified (never removed); role when the provider manages roles.
    async fn refresh_sso_user(&self, login: &Login, identity: &ExternalIdentity) -> DomainResult<UserRecord> {
        let name = clean_text(identity.name.clone(), 128);
        let email = if identity.email_verified { clean_text(identity.email.clone(), 254) } else { None };
        let mut attempts = Attempts::new(MAX_ATTEMPTS);
        while attempts.next().await.is_some() {
            let Some(user) = self.get_user(login).await? else {
                return Err(DomainError::unauthenticated(
                    "the account linked to this identity no longer exists; ask an administrator",
                ));
            };
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
            if let Some(e) = &email
                && user.email.as_ref() != Some(e)
            {
                update = update.set("email", e.clone());
                detail.insert("email".to_owned(), e.clone());
            }
            if user.role != role {
                update = update.set("role", role.as_str());
                detail.insert("previous_role".to_owned(), user.role.as_str().to_owned());
                detail.insert("role".to_owned(), role.as_str().to_owned());
            }
            if detail.is_empty() {
                return Ok(user);
            }
            detail.insert("user".to_owned(), login.as_str().to_owned());
            let condition = super::tokens::user_revision_condition(user.revision);
            let after = UserRecord { role, ..user.clone() };
            let mut ops = vec![
                TxOp::Update {
                    key: keys::user(login),
                    update: update.set("revision", user.revision + 1),
                    condition: Some(condition),
                },
                audit::event("oidc", "user-update", None, None, detail)?,
            ];
            // A role from the provider applies to the user's tokens in the same transaction.
            ops.extend(self.token_account_ops(login, &user, &after, ops.len()).await?);
            match self.items.transact(ops).await {
                Ok(()) => {
                    tracing::info!(user = %login, role = role.as_str(), "user updated from the identity provider");
                    return self
                        .get_user(login)
                        .await?
                        .ok_or_else(|| DomainError::internal("user vanished right after its update"));
                }
                Err(e) if e.is_condition_failure() => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::conflict(format!("user `{login}` is being changed concurrently; please retry")))
    }

    /// Links an external identity to an existing account (administrators only; a token must be
    /// unrestricted). Linking the same identity to the same account again succeeds; an identity
    /// linked to another account must be unlinked first.
    pub async fn link_identity(
        &self,
        principal: Option<&Principal>,
        login: &Login,
        issuer: &str,
        subject: &str,
    ) -> DomainResult<IdentityRecord> {
        let principal = super::admin::check_admin(principal)?;
        check_identity_parts(issuer, subject)?;
        if self.get_user(login).await?.is_none() {
            return Err(DomainError::not_found(format!("no user with login `{login}`")));
        }
        let record = new_binding(issuer, subject, login, principal.login());
        let mut detail = BTreeMap::new();
        detail.insert("user".to_owned(), login.as_str().to_owned());
        detail.insert("issuer".to_owned(), issuer.to_owned());
        detail.insert("subject".to_owned(), subject.to_owned());
        let ops = vec![identity_put(&record)?, audit::event(principal.login(), "identity-link", None, None, detail)?];
        match self.items.transact(ops).await {
            Ok(()) => {
                tracing::info!(user = %login, by = %principal.login(), "external identity linked");
                Ok(record)
            }
            Err(e) if e.failed_condition_at(0) => {
                let hash = keys::identity_hash(issuer, subject);
                match self.get_identity(&hash).await? {
                    Some(existing) if existing.login == login.as_str() => Ok(existing),
                    Some(existing) => Err(DomainError::conflict(format!(
                        "this identity is linked to `{}`; unlink it first",
                        existing.login
                    ))),
                    None => Err(DomainError::conflict("the identity changed concurrently; please retry")),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the link of an external identity to an account (administrators only), and ends the
    /// account's web sessions (they may have come through that identity). The next sign-in of the
    /// identity creates a new account unless it is linked again.
    pub async fn unlink_identity(
        &self,
        principal: Option<&Principal>,
        login: &Login,
        issuer: &str,
        subject: &str,
    ) -> DomainResult<()> {
        let principal = super::admin::check_admin(principal)?;
        check_identity_parts(issuer, subject)?;
        let hash = keys::identity_hash(issuer, subject);
        let not_linked = || DomainError::not_found(format!("user `{login}` is not linked to this identity"));
        let Some(existing) = self.get_identity(&hash).await? else { return Err(not_linked()) };
        if existing.login != login.as_str() {
            return Err(not_linked());
        }
        let mut detail = BTreeMap::new();
        detail.insert("user".to_owned(), login.as_str().to_owned());
        detail.insert("issuer".to_owned(), issuer.to_owned());
        detail.insert("subject".to_owned(), subject.to_owned());
        let ops = vec![
            TxOp::Delete {
                key: keys::identity(&hash),
                condition: Some(Condition::AttrEquals("login".into(), login.as_str().into())),
            },
            audit::event(principal.login(), "identity-unlink", None, None, detail)?,
        ];
        match self.items.transact(ops).await {
            Ok(()) => {}
            Err(e) if e.failed_condition_at(0) => return Err(not_linked()),
            Err(e) => return Err(e.into()),
        }
        // A legacy binding on the user item would bind the identity again at its next sign-in.
        let legacy = format!("{issuer} {subject}");
        if let Some(user) = self.get_user(login).await?
            && user.external_id.as_deref() == Some(legacy.as_str())
        {
            let cond = Condition::AttrEquals("external_id".into(), legacy.into());
            match self.items.update(&keys::user(login), Update::new().remove("external_id"), Some(cond)).await {
                Ok(_) => {}
                Err(e) if e.is_condition_failure() => {}
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!(user = %login, by = %principal.login(), "external identity unlinked");
        self.revoke_user_sessions(principal.login(), login).await?;
        Ok(())
    }
}

/// What the first sign-in of an identity did.
enum FirstSignIn {
    Created(UserRecord),
    Linked(Login),
    Raced,
}

/// Longest issuer accepted (bytes).
const MAX_ISSUER_BYTES: usize = 512;
/// Longest subject accepted (bytes; OIDC says at most 255 ASCII characters).
const MAX_SUBJECT_BYTES: usize = 255;

fn check_identity_parts(issuer: &str, subject: &str) -> DomainResult<()> {
    if issuer.is_empty()
        || issuer.len() > MAX_ISSUER_BYTES
        || issuer.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(DomainError::bad_request(format!(
            "the issuer must be 1 to {MAX_ISSUER_BYTES} bytes without spaces or control characters"
        )));
    }
    if subject.is_empty() || subject.len() > MAX_SUBJECT_BYTES || subject.chars().any(char::is_control) {
        return Err(DomainError::bad_request(format!(
            "the subject must be 1 to {MAX_SUBJECT_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}

fn new_binding(issuer: &str, subject: &str, login: &Login, linked_by: &str) -> IdentityRecord {
    IdentityRecord {
        issuer: issuer.to_owned(),
        subject: subject.to_owned(),
        login: login.as_str().to_owned(),
        linked_at: clock::now_string(),
        linked_by: linked_by.to_owned(),
    }
}

/// The conditional put of a binding (absent only: two first sign-ins never create two).
pub(crate) fn identity_put(record: &IdentityRecord) -> DomainResult<TxOp> {
    let login = Login::parse(&record.login)?;
    Ok(TxOp::Put { item: record.item(&login)?, condition: Some(Condition::NotExists) })
}

/// Logins to try for a new account: the derived one, then `-2` to `-9`, then a suffix from the
/// identity's digest (stable per identity).
fn login_candidates(derived: &Login, issuer: &str, subject: &str) -> Vec<Login> {
    let base = derived.as_str();
    let digest = keys::identity_hash(issuer, subject);
    let suffixes = (2..10).map(|n| n.to_string()).chain([digest[..8].to_owned(), digest[..16].to_owned()]);
    let mut out = vec![derived.clone()];
    for suffix in suffixes {
        let keep = 64usize.saturating_sub(suffix.len() + 1);
        let stem: String = base.chars().take(keep).collect();
        if let Ok(login) = Login::parse(&format!("{stem}-{suffix}")) {
            out.push(login);
        }
    }
    out
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
