//! Authentication of cargo tokens and the one authorization check builder.

use sha2::{Digest, Sha256};

use crate::domain::{CrateName, CratePattern, DomainError, DomainResult, Login, Scope};
use crate::model::{TokenAccount, TokenRecord, UserRecord, keys};
use crate::store::{Condition, Update};

use super::{Registry, clock};

/// Prefix of every Raktar cargo token (recognisable by secret scanners).
pub const TOKEN_PREFIX: &str = "rkt_";

/// How often the last-used time of a token is written at most (seconds).
const LAST_USED_GRANULARITY: i64 = 60;

/// An authenticated caller: a user acting through a cargo token (limited by its scopes and crate
/// patterns) or through a web session (`token: None`: the user's full rights).
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user. For a token that carries its [`TokenAccount`] (every token created since it
    /// exists), only what authorization needs is filled in (id, login, role, disabled): the user
    /// item is not read. [`Registry::caller_user`] reads the whole record when it is needed.
    pub user: UserRecord,
    pub token: Option<TokenRecord>,
    /// The store's change marker read when this principal was authenticated (before its items
    /// were read): later reads of the same request validate caches against it instead of asking
    /// the store again, so a request sees the store as of its authentication or later.
    pub(crate) marker: Option<u64>,
    /// `user` was built from the token's `account`, not read from the user item.
    pub(crate) partial_user: bool,
}

impl Principal {
    /// A principal for `user`, acting through `token` (or with the user's full rights).
    pub fn new(user: UserRecord, token: Option<TokenRecord>) -> Self {
        Self { user, token, marker: None, partial_user: false }
    }

    pub fn login(&self) -> &str {
        &self.user.login
    }

    pub fn is_admin(&self) -> bool {
        self.user.is_admin()
    }

    /// A web session, or a token with every scope and no crate limit: the caller has all of its
    /// user's rights.
    pub fn is_unrestricted(&self) -> bool {
        self.token.as_ref().is_none_or(|t| t.crates.is_empty() && Scope::ALL.iter().all(|s| t.scopes.contains(s)))
    }

    /// An administrator acting with all of their rights ([`Principal::is_unrestricted`]): what
    /// administrator reads (the audit log, other users' e-mail addresses) need. A limited token of
    /// an administrator (a `read` token, say) reads what a member reads.
    pub fn acts_as_admin(&self) -> bool {
        self.is_admin() && self.is_unrestricted()
    }

    fn has_scope(&self, scope: Scope) -> bool {
        // Every scope implies read: cargo needs the index to publish, yank and so on.
        scope == Scope::Read || self.token.as_ref().is_none_or(|t| t.scopes.contains(&scope))
    }

    fn crate_allowed(&self, name: &CrateName) -> bool {
        let Some(token) = &self.token else { return true };
        token.crates.is_empty()
            || token.crates.iter().any(|p| CratePattern::parse(p).map(|p| p.matches(name)).unwrap_or(false))
    }

    /// How the caller is identified in messages ("this token (`laptop`)" or "this session").
    fn via(&self) -> String {
        match &self.token {
            Some(t) => format!("this token (`{}`)", t.name),
            None => "this session".to_owned(),
        }
    }
}

/// Principals of recently used tokens, each tagged with the store's change marker read before its
/// items were: reused only while the marker is unchanged, so a revocation, expiry change or
/// disabled account (by this process or a CLI command on the same data dir) applies at the next
/// request. Expiry times are checked on every use.
#[derive(Default)]
pub(crate) struct PrincipalCache {
    entries: std::sync::RwLock<std::collections::HashMap<String, CachedPrincipal>>,
}

/// A token and its user as read at a change marker.
#[derive(Clone)]
struct CachedPrincipal {
    marker: u64,
    token: TokenRecord,
    user: UserRecord,
}

/// Principals kept before the cache is cleared (a bound on memory).
const PRINCIPAL_CACHE_MAX: usize = 10_000;

impl PrincipalCache {
    fn fresh(&self, hash: &str, marker: u64) -> Option<(TokenRecord, UserRecord)> {
        let entries = self.entries.read().ok()?;
        entries.get(hash).filter(|c| c.marker == marker).map(|c| (c.token.clone(), c.user.clone()))
    }

    fn put(&self, hash: String, entry: CachedPrincipal) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= PRINCIPAL_CACHE_MAX && !entries.contains_key(&hash) {
                entries.clear();
            }
            entries.insert(hash, entry);
        }
    }
}

/// SHA-256 (lowercase hex) of a token secret: the only form in which tokens are stored.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The single authorization check. Read it as a sentence:
/// `AuthCheck::scope(Scope::Yank).for_crate(&name).owners(&owners).check(&principal)`.
#[derive(Debug, Clone)]
pub struct AuthCheck<'a> {
    scope: Scope,
    krate: Option<&'a CrateName>,
    owners: Option<&'a [String]>,
    admin_only: bool,
    unrestricted: bool,
}

impl<'a> AuthCheck<'a> {
    pub fn scope(scope: Scope) -> Self {
        Self { scope, krate: None, owners: None, admin_only: false, unrestricted: false }
    }

    /// The crate the action is on: token crate patterns apply.
    pub fn for_crate(mut self, name: &'a CrateName) -> Self {
        self.krate = Some(name);
        self
    }

    /// The crate's current owners (logins): the caller must be one of them or an admin.
    pub fn owners(mut self, owners: &'a [String]) -> Self {
        self.owners = Some(owners);
        self
    }

    /// Only administrators may do this.
    pub fn admin_only(mut self) -> Self {
        self.admin_only = true;
        self
    }

    /// A token must carry every scope and no crate limit (web sessions always pass): for actions
    /// no single scope describes, such as administering users.
    pub fn unrestricted_token(mut self) -> Self {
        self.unrestricted = true;
        self
    }

    pub fn check(&self, principal: &Principal) -> DomainResult<()> {
        if !principal.has_scope(self.scope) {
            return Err(DomainError::forbidden(format!(
                "{} lacks the `{}` scope; create a token with that scope",
                principal.via(),
                self.scope
            )));
        }
        if let Some(name) = self.krate
            && !principal.crate_allowed(name)
        {
            return Err(DomainError::forbidden(format!(
                "{} is limited to crates matching {} and may not act on `{name}`",
                principal.via(),
                principal.token.as_ref().map(|t| t.crates.join(", ")).unwrap_or_default()
            )));
        }
        if self.admin_only && !principal.is_admin() {
            return Err(DomainError::forbidden("only administrators may do this"));
        }
        if self.unrestricted && !principal.is_unrestricted() {
            return Err(DomainError::forbidden(format!(
                "{} is limited (scopes or crate patterns); this action needs a token with every scope and no crate limit",
                principal.via()
            )));
        }
        if let Some(owners) = self.owners
            && !principal.is_admin()
            && !owners.iter().any(|o| o == principal.login())
            // A trusted-publishing token acts for its crates' owners (the crate limit applied above).
            && !(principal.is_trusted_publisher() && matches!(self.scope, Scope::PublishUpdate | Scope::Yank))
        {
            let what = self.krate.map(|n| format!("crate `{n}`")).unwrap_or_else(|| "this crate".into());
            return Err(DomainError::forbidden(format!(
                "`{}` is not an owner of {what}; ask an owner ({}) to add you with `cargo owner --add {}`",
                principal.login(),
                owners.join(", "),
                principal.login()
            )));
        }
        Ok(())
    }
}

impl Registry {
    /// Resolves a raw `Authorization` header value to a principal. `Ok(None)` when no token was sent.
    pub async fn authenticate(&self, raw: Option<&str>) -> DomainResult<Option<Principal>> {
        let Some(raw) = raw else { return Ok(None) };
        let secret = raw.trim();
        if secret.is_empty() {
            return Ok(None);
        }
        // Tolerate a `Bearer ` prefix from non-cargo clients; cargo sends the raw token.
        let secret = secret.strip_prefix("Bearer ").unwrap_or(secret).trim();
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 128 || !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DomainError::unauthenticated("the token is not a Raktar token"));
        }
        let hash = hash_token(secret);
        let key = keys::token(&hash);
        // Read before the items: a cached principal is valid for this marker at most.
        let marker = self.items.change_marker();
        let cached = marker.and_then(|m| self.principals.fresh(&hash, m));
        let is_fresh = cached.is_some();
        let (token, user) = match cached {
            Some(found) => found,
            None => {
                // Strongly consistent: a revoked token (deleted) or a disabled user (marked on
                // every token item in the same transaction) is refused from the next request on.
                let Some(item) = self.items.get(&key).await? else {
                    return Err(DomainError::unauthenticated("the token is invalid or has been revoked"));
                };
                let token: TokenRecord = item.to_entity()?;
                if let Some(user) = super::trustpub::token_user(&token) {
                    return self.finish_authentication(hash, key, marker, token, user, false);
                }
                let user = match token.account {
                    // One read: the token carries what authorization needs of its user.
                    Some(account) => user_of_account(&token.login, account),
                    // A token written before tokens carried their account: read the user.
                    None => {
                        let login = Login::parse(&token.login)
                            .map_err(|_| DomainError::internal("stored token has an invalid login"))?;
                        let Some(user_item) = self.items.get(&keys::user(&login)).await? else {
                            return Err(DomainError::unauthenticated("the token's user no longer exists"));
                        };
                        let user: UserRecord = user_item.to_entity()?;
                        self.backfill_token_account(&key, &user);
                        user
                    }
                };
                (token, user)
            }
        };
        self.finish_authentication(hash, key, marker, token, user, is_fresh)
    }

    /// Expiry, disabled account, principal cache and last-used time of an authenticated token.
    fn finish_authentication(
        &self,
        hash: String,
        key: crate::store::Key,
        marker: Option<u64>,
        token: TokenRecord,
        user: UserRecord,
        is_fresh: bool,
    ) -> DomainResult<Option<Principal>> {
        let now = clock::unix_now();
        if token.expires_unix.is_some_and(|exp| exp <= now) {
            return Err(DomainError::unauthenticated(format!(
                "the token `{}` expired at {}",
                token.name,
                token.expires_at.as_deref().unwrap_or("an earlier time")
            )));
        }
        if user.disabled {
            return Err(DomainError::unauthenticated(format!("the account `{}` is disabled", user.login)));
        }
        if !is_fresh && let Some(m) = marker {
            self.principals.put(hash.clone(), CachedPrincipal { marker: m, token: token.clone(), user: user.clone() });
        }
        if token.last_used_unix.is_none_or(|t| now - t >= LAST_USED_GRANULARITY)
            && self.claim_last_used_write(&hash, now)
        {
            // Best effort and off the request path; a lost update only delays the last-used time.
            let items = self.items.clone();
            let update = Update::new().set("last_used_at", clock::now_string()).set("last_used_unix", now);
            let cond = crate::store::Condition::Exists;
            tokio::spawn(async move {
                if let Err(e) = items.update(&key, update, Some(cond)).await
                    && !e.is_condition_failure()
                {
                    tracing::warn!(error = %e, "could not record token last-used time");
                }
            });
        }
        let partial_user = token.account.is_some();
        Ok(Some(Principal { user, token: Some(token), marker, partial_user }))
    }

    /// Writes the user's [`TokenAccount`] onto a token written before tokens carried it, so later
    /// requests read one item. Best effort, off the request path. Conditioned on the token
    /// still lacking it: a change of the user meanwhile writes `account` on every token of the
    /// user, and then this write fails instead of bringing back the state read before.
    fn backfill_token_account(&self, key: &crate::store::Key, user: &UserRecord) {
        let Ok(account) = serde_json::to_value(TokenAccount::of(user)) else { return };
        let items = self.items.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let update = Update::new().set("account", account);
            if let Err(e) = items.update(&key, update, Some(Condition::AttrNotExists("account".into()))).await
                && !e.is_condition_failure()
            {
                tracing::warn!(error = %e, "could not record the account on a token");
            }
        });
    }

    /// The caller's whole user record: the principal's own when it was read from the user item,
    /// else (a token carrying its account) read now. For answers that show the account (name,
    /// e-mail), never needed for authorization.
    pub async fn caller_user(&self, principal: &Principal) -> DomainResult<UserRecord> {
        if !principal.partial_user {
            return Ok(principal.user.clone());
        }
        let login =
            Login::parse(principal.login()).map_err(|_| DomainError::internal("stored token has an invalid login"))?;
        match self.get_user(&login).await? {
            Some(user) => Ok(user),
            None => Err(DomainError::unauthenticated("the token's user no longer exists")),
        }
    }

    /// True when this process should write the last-used time now (at most once per granularity
    /// per token, however many requests arrive at once).
    fn claim_last_used_write(&self, hash: &str, now: i64) -> bool {
        let Ok(mut writes) = self.last_used_writes.lock() else { return false };
        if writes.get(hash).is_some_and(|t| now - t < LAST_USED_GRANULARITY) {
            return false;
        }
        if writes.len() > 100_000 {
            writes.clear();
        }
        writes.insert(hash.to_owned(), now);
        true
    }

    /// Read access (index, downloads, search): needs a principal when the registry is private.
    pub fn check_read(&self, principal: Option<&Principal>) -> DomainResult<()> {
        if self.config.auth_required && principal.is_none() {
            return Err(DomainError::unauthenticated("this registry requires a token for every request"));
        }
        Ok(())
    }
}

/// The user as a token's [`TokenAccount`] describes it: what authorization needs, nothing else.
fn user_of_account(login: &str, account: TokenAccount) -> UserRecord {
    UserRecord {
        id: account.id,
        login: login.to_owned(),
        name: None,
        email: None,
        role: account.role,
        disabled: account.disabled,
        created_at: String::new(),
        revision: 0,
        password_hash: None,
        external_id: None,
    }
}

/// Requires a principal for a write, with a clear message.
pub fn require(principal: Option<&Principal>) -> DomainResult<&Principal> {
    principal.ok_or_else(|| DomainError::unauthenticated("this action needs a token"))
}
