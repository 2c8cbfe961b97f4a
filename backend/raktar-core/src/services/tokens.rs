//! Cargo tokens: random, prefixed, shown once, stored only as SHA-256.

use std::collections::BTreeMap;

use rand::Rng;
use serde::Serialize;

use crate::domain::{CratePattern, DomainError, DomainResult, Login, Scope};
use crate::model::Entity as _;
use crate::model::{Role, TokenAccount, TokenNameRecord, TokenRecord, UserRecord, keys};
use crate::store::{Condition, Index, MAX_TX_OPS, Query, TxOp, Update, query_all};

use super::auth::{TOKEN_PREFIX, hash_token};
use super::{Registry, audit, clock};

/// Length of the random part of a token (base62: about 238 bits).
const TOKEN_RANDOM_CHARS: usize = 40;

/// Most tokens one user may hold: a change of the user's role or disabled state rewrites the
/// `account` of every token of the user in one transaction with the user item and its audit event
/// (at most [`MAX_TX_OPS`] operations).
pub const MAX_TOKENS_PER_USER: usize = 90;

/// Attempts of an optimistic token creation (the user's `revision` moved meanwhile).
const CREATE_ATTEMPTS: usize = 8;

/// The optimistic-locking condition on a user item read at `revision` (0: written before users
/// carried a revision).
pub(crate) fn user_revision_condition(revision: u64) -> Condition {
    if revision == 0 {
        Condition::AttrNotExists("revision".into())
    } else {
        Condition::AttrEquals("revision".into(), revision.into())
    }
}

/// Whether going from `before` to `after` takes rights away (disabling, demoting): such changes
/// may rewrite the tokens ahead of the user item; changes that grant rights may not.
fn restricts(before: &UserRecord, after: &UserRecord) -> bool {
    (after.disabled && !before.disabled) || (before.role == Role::Admin && after.role != Role::Admin)
}

/// What a new token may do.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    /// Empty means every scope.
    pub scopes: Vec<Scope>,
    pub crates: Vec<CratePattern>,
    /// Lifetime in seconds; `None` never expires.
    pub expires_in_secs: Option<i64>,
}

/// A freshly created token: the secret is returned exactly once.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    pub secret: String,
    pub record: TokenRecord,
}

/// A token as listed (never the secret).
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub crates: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub hint: String,
    pub expired: bool,
}

fn generate_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let random: String =
        (0..TOKEN_RANDOM_CHARS).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect();
    format!("{TOKEN_PREFIX}{random}")
}

fn validate_token_name(name: &str) -> DomainResult<()> {
    let ok = !name.trim().is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ' | ':' | '@'));
    if ok {
        Ok(())
    } else {
        Err(DomainError::bad_request(
            "token names are 1 to 64 characters: letters, digits, space, `-`, `_`, `.`, `:`, `@`",
        ))
    }
}

impl Registry {
    /// Creates a token for a user. `actor` is who asked (the user, or an admin / the CLI).
    ///
    /// The token carries its user's [`TokenAccount`] as read from the user item; the same
    /// transaction bumps the user's `revision` on the condition that it did not move, so a
    /// concurrent change of the user's role or disabled state either sees the new token (and
    /// rewrites it) or makes this creation retry with the new state.
    pub async fn create_token(&self, actor: &str, login: &Login, new: NewToken) -> DomainResult<CreatedToken> {
        validate_token_name(&new.name)?;
        if let Some(secs) = new.expires_in_secs
            && (secs <= 0 || secs > 10 * 366 * 86_400)
        {
            return Err(DomainError::bad_request("token lifetime must be between 1 second and 10 years"));
        }
        let mut scopes = if new.scopes.is_empty() { Scope::ALL.to_vec() } else { new.scopes.clone() };
        scopes.sort();
        scopes.dedup();
        for _ in 0..CREATE_ATTEMPTS {
            let user: UserRecord = self
                .items
                .get(&keys::user(login))
                .await?
                .ok_or_else(|| DomainError::not_found(format!("no user with login `{login}`")))?
                .to_entity()?;
            if user.disabled {
                return Err(DomainError::bad_request(format!("the account `{login}` is disabled")));
            }
            let held = self.user_token_hashes(login).await?.len();
            if held >= MAX_TOKENS_PER_USER {
                return Err(DomainError::bad_request(format!(
                    "user `{login}` already holds {held} tokens, the most one user may hold ({MAX_TOKENS_PER_USER}); revoke one first"
                )));
            }
            let now = clock::now();
            let expires = new.expires_in_secs.map(|s| now + time::Duration::seconds(s));
            let secret = generate_secret();
            let hash = hash_token(&secret);
            let record = TokenRecord {
                login: login.as_str().to_owned(),
                name: new.name.clone(),
                scopes: scopes.clone(),
                crates: new.crates.iter().map(|p| p.as_str().to_owned()).collect(),
                created_at: clock::format(now),
                expires_at: expires.map(clock::format),
                expires_unix: expires.map(|t| t.unix_timestamp()),
                last_used_at: None,
                last_used_unix: None,
                hint: secret.chars().take(TOKEN_PREFIX.len() + 4).collect(),
                account: Some(TokenAccount::of(&user)),
            };
            let mut detail = BTreeMap::new();
            detail.insert("token".to_owned(), new.name.clone());
            detail.insert("user".to_owned(), login.as_str().to_owned());
            let ops = vec![
                TxOp::Put {
                    item: TokenNameRecord { hash: hash.clone() }.item((login, &new.name))?,
                    condition: Some(Condition::NotExists),
                },
                TxOp::Put { item: record.item((&hash, Some(login)))?, condition: Some(Condition::NotExists) },
                TxOp::Update {
                    key: keys::user(login),
                    update: Update::new().set("revision", user.revision + 1),
                    condition: Some(user_revision_condition(user.revision)),
                },
                audit::event(actor, "token-create", None, None, detail)?,
            ];
            match self.items.transact(ops).await {
                Ok(()) => {
                    tracing::info!(user = %login, token = %new.name, "token created");
                    return Ok(CreatedToken { secret, record });
                }
                Err(e) if e.failed_condition_at(0) => {
                    return Err(DomainError::conflict(format!(
                        "user `{login}` already has a token named `{}`",
                        new.name
                    )));
                }
                // The user changed (or was deleted) since it was read: read it again.
                Err(e) if e.failed_condition_at(2) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::conflict(format!("user `{login}` is being changed concurrently; please retry")))
    }

    /// The hashes of a user's tokens, from the token-name markers in the user's partition (a
    /// strongly consistent table query, unlike the token index).
    pub(crate) async fn user_token_hashes(&self, login: &Login) -> DomainResult<Vec<String>> {
        let q = Query::partition(keys::user_pk(login)).prefix(keys::TOKEN_NAME_PREFIX);
        let mut hashes = Vec::new();
        for item in query_all(self.items.as_ref(), &q).await? {
            hashes.push(item.to_entity::<TokenNameRecord>()?.hash);
        }
        Ok(hashes)
    }

    /// The token side of a change of a user from `before` to `after` (role, disabled state): the
    /// operations that rewrite the `account` of every token of the user, to commit in the same
    /// transaction as the user item (each conditioned on the token still existing: a token
    /// revoked meanwhile makes the transaction fail, and the caller retries). `None` when the
    /// change leaves the tokens' [`TokenAccount`] as it is.
    ///
    /// A user holding more tokens than fit in that transaction (only possible for tokens created
    /// before [`MAX_TOKENS_PER_USER`]) is handled only when the change takes rights away: the
    /// tokens are rewritten first, in transactions of their own, and the user item last (a failure
    /// in between leaves tokens more restricted than their user, never less). A change that grants
    /// rights to such a user is refused until tokens are revoked.
    pub(crate) async fn token_account_ops(
        &self,
        login: &Login,
        before: &UserRecord,
        after: &UserRecord,
        reserved_ops: usize,
    ) -> DomainResult<Vec<TxOp>> {
        let account = TokenAccount::of(after);
        if TokenAccount::of(before) == account {
            return Ok(Vec::new());
        }
        let hashes = self.user_token_hashes(login).await?;
        let ops: Vec<TxOp> = hashes
            .iter()
            .map(|hash| {
                Ok(TxOp::Update {
                    key: keys::token(hash),
                    update: Update::new().set("account", serde_json::to_value(account)?),
                    condition: Some(Condition::Exists),
                })
            })
            .collect::<Result<_, serde_json::Error>>()
            .map_err(|e| DomainError::internal(format!("token account: {e}")))?;
        if ops.len() + reserved_ops <= MAX_TX_OPS {
            return Ok(ops);
        }
        if !restricts(before, after) {
            return Err(DomainError::bad_request(format!(
                "user `{login}` holds {} tokens, more than can be updated with the account at once ({}); revoke some first",
                ops.len(),
                MAX_TX_OPS - reserved_ops
            )));
        }
        let mut ops = ops;
        while !ops.is_empty() {
            let rest = ops.split_off(ops.len().min(MAX_TX_OPS));
            let chunk = std::mem::replace(&mut ops, rest);
            self.items.transact(chunk).await?;
        }
        Ok(Vec::new())
    }

    /// Creates a token that belongs to no user account: a trusted-publishing token, whose
    /// `login` is the CI identity ([`super::trustpub`]; never a valid login, so it can reach no
    /// account). The item carries a time-to-live at its expiry. `ops` (the caller's conditions and
    /// audit event) commit first, in the same transaction; a failed condition among them is
    /// reported as the store error (check it with [`crate::store::StoreError::failed_condition_at`]).
    pub(crate) async fn create_unowned_token(
        &self,
        identity: &str,
        scopes: Vec<Scope>,
        crates: Vec<String>,
        lifetime_secs: i64,
        mut ops: Vec<TxOp>,
    ) -> Result<CreatedToken, crate::store::StoreError> {
        let now = clock::now();
        let expires = now + time::Duration::seconds(lifetime_secs);
        let secret = generate_secret();
        let hash = hash_token(&secret);
        let record = TokenRecord {
            login: identity.to_owned(),
            name: format!("trusted-publishing-{}", &hash[..12]),
            scopes,
            crates,
            created_at: clock::format(now),
            expires_at: Some(clock::format(expires)),
            expires_unix: Some(expires.unix_timestamp()),
            last_used_at: None,
            last_used_unix: None,
            hint: secret.chars().take(TOKEN_PREFIX.len() + 4).collect(),
            // No account: the CI identity is not a user (see `trustpub::token_user`).
            account: None,
        };
        let mut item = record.item((&hash, None))?;
        item.set(keys::TTL_ATTR, expires.unix_timestamp().into());
        ops.push(TxOp::Put { item, condition: Some(Condition::NotExists) });
        self.items.transact(ops).await?;
        Ok(CreatedToken { secret, record })
    }

    /// Lists a user's tokens (never the secrets).
    pub async fn list_tokens(&self, login: &Login) -> DomainResult<Vec<TokenView>> {
        let q = Query::on_index(Index::ByOwner, keys::user_pk(login)).prefix(keys::TOKEN_GSI_PREFIX);
        let now = clock::unix_now();
        let mut out = Vec::new();
        for item in query_all(self.items.as_ref(), &q).await? {
            let t: TokenRecord = item.to_entity()?;
            out.push(TokenView {
                expired: t.expires_unix.is_some_and(|e| e <= now),
                name: t.name,
                scopes: t.scopes,
                crates: t.crates,
                created_at: t.created_at,
                expires_at: t.expires_at,
                last_used_at: t.last_used_at,
                hint: t.hint,
            });
        }
        Ok(out)
    }

    /// Revokes a token by name; effective immediately.
    pub async fn revoke_token(&self, actor: &str, login: &Login, name: &str) -> DomainResult<()> {
        let marker_key = keys::token_name(login, name);
        let Some(marker) = self.items.get(&marker_key).await? else {
            return Err(DomainError::not_found(format!("user `{login}` has no token named `{name}`")));
        };
        let marker: TokenNameRecord = marker.to_entity()?;
        let mut detail = BTreeMap::new();
        detail.insert("token".to_owned(), name.to_owned());
        detail.insert("user".to_owned(), login.as_str().to_owned());
        let ops = vec![
            TxOp::Delete { key: marker_key, condition: Some(Condition::Exists) },
            TxOp::Delete { key: keys::token(&marker.hash), condition: None },
            audit::event(actor, "token-revoke", None, None, detail)?,
        ];
        match self.items.transact(ops).await {
            Ok(()) => {
                tracing::info!(user = %login, token = %name, "token revoked");
                Ok(())
            }
            Err(e) if e.failed_condition_at(0) => {
                Err(DomainError::not_found(format!("user `{login}` has no token named `{name}`")))
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_prefixed_and_random() {
        let a = super::generate_secret();
        let b = super::generate_secret();
        assert!(a.starts_with("rkt_"));
        assert_eq!(a.len(), 44);
        assert_ne!(a, b);
    }
}
