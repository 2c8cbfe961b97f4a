//! Cargo tokens: random, prefixed, shown once, stored only as SHA-256.

use std::collections::BTreeMap;

use rand::Rng;
use serde::Serialize;

use crate::domain::{CratePattern, DomainError, DomainResult, Login, Scope};
use crate::model::{TokenNameRecord, TokenRecord, UserRecord, keys};
use crate::store::{Condition, Index, Item, Query, TxOp, query_all};

use super::auth::{TOKEN_PREFIX, hash_token};
use super::{Registry, audit, clock};

/// Length of the random part of a token (base62: about 238 bits).
const TOKEN_RANDOM_CHARS: usize = 40;

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
    pub async fn create_token(&self, actor: &str, login: &Login, new: NewToken) -> DomainResult<CreatedToken> {
        validate_token_name(&new.name)?;
        let user: UserRecord = self
            .items
            .get(&keys::user(login))
            .await?
            .ok_or_else(|| DomainError::not_found(format!("no user with login `{login}`")))?
            .to_entity()?;
        if user.disabled {
            return Err(DomainError::bad_request(format!("the account `{login}` is disabled")));
        }
        if let Some(secs) = new.expires_in_secs
            && (secs <= 0 || secs > 10 * 366 * 86_400)
        {
            return Err(DomainError::bad_request("token lifetime must be between 1 second and 10 years"));
        }
        let mut scopes = if new.scopes.is_empty() { Scope::ALL.to_vec() } else { new.scopes.clone() };
        scopes.sort();
        scopes.dedup();
        let now = clock::now();
        let expires = new.expires_in_secs.map(|s| now + time::Duration::seconds(s));
        let secret = generate_secret();
        let hash = hash_token(&secret);
        let record = TokenRecord {
            login: login.as_str().to_owned(),
            name: new.name.clone(),
            scopes,
            crates: new.crates.iter().map(|p| p.as_str().to_owned()).collect(),
            created_at: clock::format(now),
            expires_at: expires.map(clock::format),
            expires_unix: expires.map(|t| t.unix_timestamp()),
            last_used_at: None,
            last_used_unix: None,
            hint: secret.chars().take(TOKEN_PREFIX.len() + 4).collect(),
        };
        let (g1pk, g1sk) = keys::token_index(login, &new.name);
        let mut detail = BTreeMap::new();
        detail.insert("token".to_owned(), new.name.clone());
        detail.insert("user".to_owned(), login.as_str().to_owned());
        let ops = vec![
            TxOp::Put {
                item: Item::from_entity(
                    &keys::token_name(login, &new.name),
                    keys::types::TOKEN_NAME,
                    &TokenNameRecord { hash: hash.clone() },
                )?,
                condition: Some(Condition::NotExists),
            },
            TxOp::Put {
                item: Item::from_entity(&keys::token(&hash), keys::types::TOKEN, &record)?.with_index(
                    Index::Gsi1,
                    g1pk,
                    g1sk,
                ),
                condition: Some(Condition::NotExists),
            },
            audit::event(actor, "token-create", None, None, detail)?,
        ];
        match self.items.transact(ops).await {
            Ok(()) => {
                tracing::info!(user = %login, token = %new.name, "token created");
                Ok(CreatedToken { secret, record })
            }
            Err(e) if e.failed_condition_at(0) => {
                Err(DomainError::conflict(format!("user `{login}` already has a token named `{}`", new.name)))
            }
            Err(e) => Err(e.into()),
        }
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
        };
        let mut item = Item::from_entity(&keys::token(&hash), keys::types::TOKEN, &record)?;
        item.set(keys::TTL_ATTR, expires.unix_timestamp().into());
        ops.push(TxOp::Put { item, condition: Some(Condition::NotExists) });
        self.items.transact(ops).await?;
        Ok(CreatedToken { secret, record })
    }

    /// Lists a user's tokens (never the secrets).
    pub async fn list_tokens(&self, login: &Login) -> DomainResult<Vec<TokenView>> {
        let q = Query::on_index(Index::Gsi1, keys::user_pk(login)).prefix(keys::TOKEN_GSI_PREFIX);
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
