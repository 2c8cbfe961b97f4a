//! One description per stored entity: its item type, its primary key and the secondary index
//! entries it is listed under. Every item the services write is built by [`Entity::item`], so an
//! entity's key and indexes are written in one place (here) rather than at each write.
//!
//! | entity | key (`pk` / `sk`) | listed under |
//! |---|---|---|
//! | [`CrateRecord`] | `CRATE#{norm}` / `CRATE` | [`Index::Listing`]: the crate catalog shard |
//! | [`VersionRecord`] | `CRATE#{norm}` / `VERSION#{identity}` | |
//! | [`OwnerRecord`] | `CRATE#{norm}` / `OWNER#{login}` | [`Index::ByOwner`]: the owner's crates |
//! | [`UserRecord`] | `USER#{login}` / `USER` | [`Index::Listing`]: the user directory |
//! | [`TokenRecord`] | `TOKEN#{hash}` / `TOKEN` | [`Index::ByOwner`]: the user's tokens (tokens of a user only) |
//! | [`TokenNameRecord`] | `USER#{login}` / `TOKENNAME#{name}` | |
//! | [`AuditRecord`] | `AUDIT#{date}` / `{time}#{random id}` ([`keys::audit`]) | |
//! | [`SessionRecord`] | `SESSION#{hash}` / `SESSION` | [`Index::ByOwner`]: the user's sessions |
//! | [`IdentityRecord`] | `IDENTITY#{hash(issuer, subject)}` / `IDENTITY` | [`Index::ByOwner`]: the user's identities |
//! | [`SsoLoginRecord`] | `OIDCSTATE#{hash(state)}` / `OIDCSTATE` | |
//! | [`TrustConfigRecord`] | `CRATE#{norm}` / `CITRUST#{id}` | [`Index::ByOwner`]: the issuer's configurations |
//! | [`UsedJtiRecord`] | `TRUSTJTI#{hash(issuer, jti)}` / `JTI` | |
//! | [`IndexFileRecord`] | `CRATE#{norm}` / `INDEX` | |
//! | [`ReservedNameRecord`] | `CRATE#{norm}` / `CRATE#RESERVED` | [`Index::Listing`]: the reserved names |
//! | [`UpstreamIndexRecord`] | `UPSTREAM#{lowercase}` / `INDEX` | [`Index::Listing`]: the cache's index files |
//! | [`UpstreamCrateRecord`] | `UPSTREAM#{lowercase}` / `CRATE#{vers}` | [`Index::Listing`]: the cache's crates |
//!
//! The exact key formats are those of [`keys`]; `docs/data-model.md` lists the access patterns.

use serde::Serialize;

use super::entities::*;
use super::keys;
use crate::domain::{Login, NormalizedName};
use crate::store::{Index, Item, Key, StoreError};

/// A stored entity: what its items look like.
pub trait Entity: Serialize + Sized {
    /// The `type` attribute of its items.
    const TYPE: &'static str;
    /// What its key is made of besides the entity's own fields.
    type Id<'a>: Copy;

    /// Its primary key.
    fn key(&self, id: Self::Id<'_>) -> Key;

    /// The secondary index entries it is listed under (none by default).
    fn listed_under(&self, _id: Self::Id<'_>) -> Vec<(Index, String, String)> {
        Vec::new()
    }

    /// The item: the entity's attributes, its key, its `type` and its index keys.
    fn item(&self, id: Self::Id<'_>) -> Result<Item, StoreError> {
        let mut item = Item::from_entity(&self.key(id), Self::TYPE, self)?;
        for (index, pk, sk) in self.listed_under(id) {
            item = item.with_index(index, pk, sk);
        }
        Ok(item)
    }
}

fn listed(index: Index, (pk, sk): (String, String)) -> Vec<(Index, String, String)> {
    vec![(index, pk, sk)]
}

impl Entity for CrateRecord {
    const TYPE: &'static str = keys::types::CRATE;
    type Id<'a> = &'a NormalizedName;
    fn key(&self, norm: &NormalizedName) -> Key {
        keys::crate_summary(norm)
    }
    fn listed_under(&self, norm: &NormalizedName) -> Vec<(Index, String, String)> {
        listed(Index::Listing, keys::catalog_index(norm))
    }
}

impl Entity for VersionRecord {
    const TYPE: &'static str = keys::types::VERSION;
    /// The crate and the version's identity (`Version::identity`).
    type Id<'a> = (&'a NormalizedName, &'a str);
    fn key(&self, (norm, identity): Self::Id<'_>) -> Key {
        keys::version(norm, identity)
    }
}

impl Entity for OwnerRecord {
    const TYPE: &'static str = keys::types::OWNER;
    /// The crate and the owner (the same login as `self.login`).
    type Id<'a> = (&'a NormalizedName, &'a Login);
    fn key(&self, (norm, login): Self::Id<'_>) -> Key {
        keys::owner(norm, login)
    }
    fn listed_under(&self, (norm, login): Self::Id<'_>) -> Vec<(Index, String, String)> {
        listed(Index::ByOwner, keys::owned_crate_index(login, norm))
    }
}

impl Entity for UserRecord {
    const TYPE: &'static str = keys::types::USER;
    type Id<'a> = &'a Login;
    fn key(&self, login: &Login) -> Key {
        keys::user(login)
    }
    fn listed_under(&self, login: &Login) -> Vec<(Index, String, String)> {
        listed(Index::Listing, keys::user_directory_index(login))
    }
}

impl Entity for TokenRecord {
    const TYPE: &'static str = keys::types::TOKEN;
    /// The token's hash and the user it belongs to (`None`: a token of no user, e.g. one minted
    /// for a CI identity, is listed nowhere).
    type Id<'a> = (&'a str, Option<&'a Login>);
    fn key(&self, (hash, _): Self::Id<'_>) -> Key {
        keys::token(hash)
    }
    fn listed_under(&self, (_, user): Self::Id<'_>) -> Vec<(Index, String, String)> {
        user.map(|login| listed(Index::ByOwner, keys::token_index(login, &self.name))).unwrap_or_default()
    }
}

impl Entity for TokenNameRecord {
    const TYPE: &'static str = keys::types::TOKEN_NAME;
    /// The user and the token's name.
    type Id<'a> = (&'a Login, &'a str);
    fn key(&self, (login, name): Self::Id<'_>) -> Key {
        keys::token_name(login, name)
    }
}

impl Entity for AuditRecord {
    const TYPE: &'static str = keys::types::AUDIT;
    /// The event's key (its day, time and a random id: [`keys::audit`]).
    type Id<'a> = &'a Key;
    fn key(&self, key: &Key) -> Key {
        key.clone()
    }
}

impl Entity for SessionRecord {
    const TYPE: &'static str = keys::types::SESSION;
    /// The session secret's hash and its user.
    type Id<'a> = (&'a str, &'a Login);
    fn key(&self, (hash, _): Self::Id<'_>) -> Key {
        keys::session(hash)
    }
    fn listed_under(&self, (hash, login): Self::Id<'_>) -> Vec<(Index, String, String)> {
        listed(Index::ByOwner, keys::session_index(login, hash))
    }
}

impl Entity for IdentityRecord {
    const TYPE: &'static str = keys::types::IDENTITY;
    /// The local account it is bound to (the same login as `self.login`).
    type Id<'a> = &'a Login;
    fn key(&self, _: &Login) -> Key {
        keys::identity(&keys::identity_hash(&self.issuer, &self.subject))
    }
    fn listed_under(&self, login: &Login) -> Vec<(Index, String, String)> {
        listed(Index::ByOwner, keys::identity_index(login, &keys::identity_hash(&self.issuer, &self.subject)))
    }
}

impl Entity for SsoLoginRecord {
    const TYPE: &'static str = keys::types::SSO_LOGIN;
    /// The hash of the sign-in's `state`.
    type Id<'a> = &'a str;
    fn key(&self, state_hash: &str) -> Key {
        keys::sso_login(state_hash)
    }
}

impl Entity for TrustConfigRecord {
    const TYPE: &'static str = keys::types::TRUST_CONFIG;
    type Id<'a> = &'a NormalizedName;
    fn key(&self, norm: &NormalizedName) -> Key {
        keys::trust_config(norm, &self.id)
    }
    fn listed_under(&self, norm: &NormalizedName) -> Vec<(Index, String, String)> {
        listed(Index::ByOwner, keys::trust_config_index(&self.issuer, norm, &self.id))
    }
}

impl Entity for UsedJtiRecord {
    const TYPE: &'static str = keys::types::USED_JTI;
    /// The ID token's `jti`.
    type Id<'a> = &'a str;
    fn key(&self, jti: &str) -> Key {
        keys::used_jti(&self.issuer, jti)
    }
}

impl Entity for IndexFileRecord {
    const TYPE: &'static str = keys::types::INDEX_FILE;
    type Id<'a> = &'a NormalizedName;
    fn key(&self, norm: &NormalizedName) -> Key {
        keys::index_file(norm)
    }
}

impl Entity for ReservedNameRecord {
    const TYPE: &'static str = keys::types::RESERVED_NAME;
    type Id<'a> = &'a NormalizedName;
    fn key(&self, norm: &NormalizedName) -> Key {
        keys::reserved_name(norm)
    }
    fn listed_under(&self, norm: &NormalizedName) -> Vec<(Index, String, String)> {
        listed(Index::Listing, keys::reserved_name_index(norm))
    }
}

impl Entity for UpstreamIndexRecord {
    const TYPE: &'static str = keys::types::UPSTREAM_INDEX;
    /// The crate name in lower case (the upstream index's file name).
    type Id<'a> = &'a str;
    fn key(&self, lowercase: &str) -> Key {
        keys::upstream_index(lowercase)
    }
    fn listed_under(&self, lowercase: &str) -> Vec<(Index, String, String)> {
        listed(Index::Listing, keys::upstream_index_listing(lowercase))
    }
}

impl Entity for UpstreamCrateRecord {
    const TYPE: &'static str = keys::types::UPSTREAM_CRATE;
    /// The crate name in lower case and the version as the upstream index spells it.
    type Id<'a> = (&'a str, &'a str);
    fn key(&self, (lowercase, vers): Self::Id<'_>) -> Key {
        keys::upstream_crate(lowercase, vers)
    }
    fn listed_under(&self, (lowercase, vers): Self::Id<'_>) -> Vec<(Index, String, String)> {
        listed(Index::Listing, keys::upstream_crate_listing(lowercase, vers))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::domain::CrateName;
    use crate::store::item::{PK, SK, TYPE};

    #[test]
    fn items_carry_key_type_and_indexes() {
        let norm = CrateName::parse("Foo_Bar").unwrap().normalized();
        let login = Login::parse("alice").unwrap();
        let owner = OwnerRecord { login: "alice".into(), added_at: "t".into(), added_by: "alice".into() };
        let item = owner.item((&norm, &login)).unwrap();
        assert_eq!(item.key(), Some(keys::owner(&norm, &login)));
        assert_eq!(item.get_str(TYPE), Some(keys::types::OWNER));
        let (pk, sk) = keys::owned_crate_index(&login, &norm);
        assert_eq!(item.get_str(Index::ByOwner.pk_attr()), Some(pk.as_str()));
        assert_eq!(item.get_str(Index::ByOwner.sk_attr()), Some(sk.as_str()));
        assert_eq!(item.to_entity::<OwnerRecord>().unwrap(), owner);
        assert!(item.get(PK).is_some() && item.get(SK).is_some());
    }

    #[test]
    fn tokens_of_no_user_are_listed_nowhere() {
        let login = Login::parse("alice").unwrap();
        let token = TokenRecord {
            login: "alice".into(),
            name: "ci".into(),
            scopes: Vec::new(),
            crates: Vec::new(),
            created_at: "t".into(),
            expires_at: None,
            expires_unix: None,
            last_used_at: None,
            last_used_unix: None,
            hint: "rkt_".into(),
            account: None,
        };
        let owned = token.item(("abc", Some(&login))).unwrap();
        assert_eq!(owned.get_str(Index::ByOwner.pk_attr()), Some(keys::token_index(&login, "ci").0.as_str()));
        let unowned = token.item(("abc", None)).unwrap();
        assert_eq!(unowned.get(Index::ByOwner.pk_attr()), None);
        assert_eq!(unowned.key(), Some(keys::token("abc")));
    }
}
