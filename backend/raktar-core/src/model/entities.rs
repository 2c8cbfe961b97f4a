//! Stored entities. Each is written as one item described by its [`crate::model::Entity`]
//! implementation (type, key, indexes); unknown attributes (keys, index keys, `type`) are ignored
//! when reading back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::Scope;

/// Roles of users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// The crate summary item (`CRATE#{norm}` / `CRATE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrateRecord {
    /// Canonical spelling (as first published).
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub homepage: Option<String>,
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub documentation: Option<String>,
    /// Highest non-yanked version (highest version when all are yanked).
    pub max_version: String,
    /// Normalized names of the crates from this registry that the newest version depends on (any
    /// kind): the source of reverse dependencies.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// Number of versions ever published (the next version's `seq` is this + 1).
    pub version_count: u64,
    /// Optimistic-locking revision: every change of the crate's versions or owners increments it.
    pub revision: u64,
    /// Strong ETag of the sparse index file as of this revision.
    pub index_etag: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A version item (`CRATE#{norm}` / `VERSION#{identity}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Exact version string (with build metadata).
    pub vers: String,
    /// Publish order within the crate, starting at 1.
    pub seq: u64,
    /// The exact index line (compact JSON, without trailing newline).
    pub line: String,
    pub yanked: bool,
    pub cksum: String,
    /// Size of the `.crate` file in bytes.
    pub size: u64,
    /// Blob key of the `.crate` file.
    pub blob: String,
    pub pubtime: String,
    pub publisher: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub rust_version: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub homepage: Option<String>,
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub documentation: Option<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    /// README text when small enough to live in the item.
    #[serde(default)]
    pub readme: Option<String>,
    /// Blob key of the README when it was spilled to the blob store.
    #[serde(default)]
    pub readme_blob: Option<String>,
    /// Unpacked size of the package in bytes.
    #[serde(default)]
    pub unpacked_size: u64,
}

/// An owner item (`CRATE#{norm}` / `OWNER#{login}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnerRecord {
    pub login: String,
    pub added_at: String,
    pub added_by: String,
}

/// A user item (`USER#{login}` / `USER`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: u32,
    pub login: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub role: Role,
    #[serde(default)]
    pub disabled: bool,
    pub created_at: String,
    /// Optimistic-locking revision.
    #[serde(default)]
    pub revision: u64,
    /// Argon2id hash (PHC string) of the local-login password, if one was set. Stored with the
    /// user so whole-item writes keep it; never part of any API output (GraphQL, JSON, CLI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<PasswordHash>,
    /// The external identity this user is bound to (`{issuer} {subject}`) after the first OIDC
    /// sign-in: a different subject claiming the same login is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// A stored password hash. `Debug` never shows it (principals and users get logged in debugging).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(pub String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

impl UserRecord {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A cargo token item (`TOKEN#{sha256}` / `TOKEN`). The secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub login: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Crate-name patterns limiting write scopes; empty means every crate.
    #[serde(default)]
    pub crates: Vec<String>,
    pub created_at: String,
    /// RFC 3339 expiry time, if any.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Unix seconds of expiry (also the TTL attribute), if any.
    #[serde(default)]
    pub expires_unix: Option<i64>,
    #[serde(default)]
    pub last_used_at: Option<String>,
    #[serde(default)]
    pub last_used_unix: Option<i64>,
    /// First characters of the token, shown in listings to recognise it.
    pub hint: String,
    /// What authorization needs of the token's user, so that authenticating reads one item.
    /// Absent on tokens written before it existed (authentication then reads the user item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<TokenAccount>,
}

/// The token's user as authorization sees it, carried on every token item (`account`). Every
/// change of a user's role or disabled state rewrites it on all of the user's tokens in the same
/// transaction as the user item, and token creation copies it while bumping the user's
/// `revision`, so the two never disagree (see `docs/data-model.md`, "Tokens carry their user").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenAccount {
    pub id: u32,
    pub role: Role,
    pub disabled: bool,
}

impl TokenAccount {
    pub fn of(user: &UserRecord) -> Self {
        Self { id: user.id, role: user.role, disabled: user.disabled }
    }
}

/// The token-name marker (`USER#{login}` / `TOKENNAME#{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenNameRecord {
    pub hash: String,
}

/// An audit event (`AUDIT#{date}` / `{timestamp}#{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at: String,
    pub actor: String,
    pub action: String,
    #[serde(default)]
    pub crate_name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub detail: BTreeMap<String, String>,
}

/// A web session (`SESSION#{sha256(secret)}` / `SESSION`; GSI1 `USER#{login}` / `SESSION#{hash}`).
/// The secret (the cookie value) is never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub login: String,
    /// How the user signed in: `password` or `oidc`.
    pub method: String,
    pub created_at: String,
    pub expires_at: String,
    pub expires_unix: i64,
    /// Same as `expires_unix`: the DynamoDB time-to-live attribute.
    pub ttl: i64,
    #[serde(default)]
    pub last_seen_unix: Option<i64>,
}

/// The binding of an external identity to a user (`IDENTITY#{sha256(issuer \0 subject)}` /
/// `IDENTITY`, GSI1 `USER#{login}` / `IDENTITY#{hash}`). Created by the first single sign-on of a
/// new account, by an administrator (`raktar user link`, GraphQL `linkIdentity`), or by the
/// verified e-mail domain rule; never by a login or e-mail that merely looks the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRecord {
    pub issuer: String,
    pub subject: String,
    pub login: String,
    pub linked_at: String,
    /// Who made the binding: `oidc` (a new account), `email-domain` (the verified-domain rule),
    /// `legacy` (carried over from the user's `external_id`), or an administrator's login / `cli`.
    pub linked_by: String,
}

/// An in-flight OIDC sign-in (`OIDCSTATE#{sha256(state)}` / `OIDCSTATE`), consumed once by the
/// callback. Lives for minutes.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SsoLoginRecord {
    pub nonce: String,
    pub pkce_verifier: String,
    /// Path to continue at after the sign-in (validated as a local path when stored).
    pub next: String,
    pub expires_unix: i64,
    pub ttl: i64,
}

impl std::fmt::Debug for SsoLoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoLoginRecord").field("next", &self.next).field("expires_unix", &self.expires_unix).finish()
    }
}

/// One rule of a trust configuration: the CI's ID token must carry claim `name` equal to `value`
/// (or, with `prefix`, starting with it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRule {
    pub name: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prefix: bool,
}

/// A trusted-publishing configuration of a crate (`CRATE#{norm}` / `CITRUST#{id}`, GSI1
/// `TRUSTISSUER#{sha256(issuer)}` / `{norm}#{id}`): CI jobs whose ID tokens come from `issuer`
/// and satisfy every rule may exchange them for a short-lived publish/yank token of this crate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustConfigRecord {
    pub id: String,
    /// Canonical crate name.
    pub crate_name: String,
    pub issuer: String,
    pub rules: Vec<ClaimRule>,
    pub created_at: String,
    pub created_by: String,
}

/// A consumed ID token (`TRUSTJTI#{sha256(issuer \0 jti)}` / `JTI`): kept until the token's own
/// expiry (plus leeway, the `ttl`) so that it is exchanged at most once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedJtiRecord {
    pub issuer: String,
    pub used_at: String,
    pub ttl: i64,
}

/// The sparse index file of a crate kept ready to serve (`CRATE#{norm}` / `INDEX`): written in
/// the same transaction as every change of the crate's versions (publish, yank, unyank), so
/// serving a private index fetch reads this one item (eventually consistent). A file larger than
/// the store's item budget keeps no `body` (readers build it from the version items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexFileRecord {
    /// The crate's canonical name (only its lowercase spelling has a file).
    pub name: String,
    /// The strong ETag of the file (the summary's `index_etag`).
    pub etag: String,
    /// The file itself, when it fits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// A crate name reserved for private use (`CRATE#{norm}` / `CRATE#RESERVED`, GSI2 `RESERVED` /
/// `{norm}`): the dependency-confusion guard lets a new crate with a name that also exists upstream
/// be published only when an administrator reserved it, and the pull-through index never serves
/// the upstream's file for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedNameRecord {
    /// The name as the administrator wrote it.
    pub name: String,
    pub reserved_at: String,
    pub reserved_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An upstream index file kept by the pull-through cache (`UPSTREAM#{lowercase}` / `INDEX`,
/// GSI2 `UPSTREAMINDEX#{shard}` / `{lowercase}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamIndexRecord {
    /// The lowercase name (the file's name upstream).
    pub name: String,
    /// Strong ETag of the cached bytes (what Raktar sends to cargo).
    pub etag: String,
    pub size: u64,
    /// The file, when it fits the item; else `blob` names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// The upstream's validators, sent back when revalidating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_last_modified: Option<String>,
    /// When the bytes were last fetched (RFC 3339).
    pub fetched_at: String,
    /// When the upstream last confirmed them (fetch or `304`), unix seconds.
    pub checked_unix: i64,
}

/// An upstream `.crate` kept by the pull-through cache (`UPSTREAM#{lowercase}` / `CRATE#{vers}`,
/// GSI2 `UPSTREAMCRATE#{shard}` / `{lowercase}#{vers}`): verified against the checksum of the
/// upstream index line before it was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamCrateRecord {
    /// The crate's name as in the upstream index line.
    pub name: String,
    pub vers: String,
    pub cksum: String,
    pub size: u64,
    pub blob: String,
    pub fetched_at: String,
    /// Downloads served from the cache (ADD).
    #[serde(default)]
    pub downloads: i64,
}
