//! Typed key builders: the only place where key strings are made. See `docs/data-model.md`.
//!
//! Partition and sort keys are prefixed by entity type; crate keys use the normalized name.

use crate::domain::{Login, NormalizedName};
use crate::store::Key;

/// Item `type` values.
pub mod types {
    pub const CRATE: &str = "crate";
    pub const VERSION: &str = "version";
    pub const OWNER: &str = "owner";
    pub const DOWNLOADS: &str = "downloads";
    pub const USER: &str = "user";
    pub const TOKEN: &str = "token";
    pub const TOKEN_NAME: &str = "token-name";
    pub const COUNTER: &str = "counter";
    pub const AUDIT: &str = "audit";
    pub const SESSION: &str = "session";
    pub const SSO_LOGIN: &str = "sso-login";
    pub const IDENTITY: &str = "identity";
    pub const RATE_LIMIT: &str = "rate-limit";
    pub const MIGRATION: &str = "migration";
    pub const TRUST_CONFIG: &str = "trust-config";
    pub const USED_JTI: &str = "used-jti";
    pub const INDEX_FILE: &str = "index-file";
    pub const RESERVED_NAME: &str = "reserved-name";
    pub const UPSTREAM_INDEX: &str = "upstream-index";
    pub const UPSTREAM_CRATE: &str = "upstream-crate";
    pub const UPSTREAM_STATS: &str = "upstream-stats";
}

/// Attribute holding the expiry (unix seconds) of short-lived items: sessions, in-flight SSO logins,
/// rate-limit windows. DynamoDB's time-to-live deletes them; readers still check it themselves.
pub const TTL_ATTR: &str = crate::store::item::TTL;

/// GSI1 sort-key prefix of external identities (by user).
pub const IDENTITY_GSI_PREFIX: &str = "IDENTITY#";

/// Sort-key prefix of version items inside a crate partition.
pub const VERSION_PREFIX: &str = "VERSION#";
/// Sort-key prefix of owner items inside a crate partition.
pub const OWNER_PREFIX: &str = "OWNER#";
/// Sort-key prefix of daily download counters inside a crate partition.
pub const DOWNLOADS_PREFIX: &str = "DL#";
/// Sort key of the crate summary item.
pub const CRATE_SK: &str = "CRATE";
/// GSI1 sort-key prefix of a user's tokens.
pub const TOKEN_GSI_PREFIX: &str = "TOKEN#";
/// GSI1 sort-key prefix of a user's web sessions.
pub const SESSION_GSI_PREFIX: &str = "SESSION#";
/// GSI1 sort-key prefix of the crates a user owns.
pub const OWNED_CRATE_GSI_PREFIX: &str = "CRATE#";
/// Number of catalog shards on GSI2 (spreads listing/search reads and publish writes).
pub const CATALOG_SHARDS: u32 = 16;

pub fn crate_pk(name: &NormalizedName) -> String {
    format!("CRATE#{}", name.as_str())
}

/// The crate summary item.
pub fn crate_summary(name: &NormalizedName) -> Key {
    Key::new(crate_pk(name), CRATE_SK)
}

/// Sort key of the ready-to-serve sparse index file inside a crate partition (sorts between the
/// `DL#` counters and the `OWNER#`/`VERSION#` items, so owner-and-version queries skip it).
pub const INDEX_FILE_SK: &str = "INDEX";

/// The crate's sparse index file, kept ready to serve.
pub fn index_file(name: &NormalizedName) -> Key {
    Key::new(crate_pk(name), INDEX_FILE_SK)
}

/// One version item; `identity` is the version without build metadata (uniqueness).
pub fn version(name: &NormalizedName, identity: &str) -> Key {
    Key::new(crate_pk(name), format!("{VERSION_PREFIX}{identity}"))
}

pub fn owner(name: &NormalizedName, login: &Login) -> Key {
    Key::new(crate_pk(name), format!("{OWNER_PREFIX}{}", login.as_str()))
}

/// The per-crate, per-day download counter (`date` is `YYYY-MM-DD`).
pub fn downloads(name: &NormalizedName, date: &str) -> Key {
    Key::new(crate_pk(name), format!("{DOWNLOADS_PREFIX}{date}"))
}

/// Attribute name of a version's count inside a daily download counter item.
pub fn downloads_version_attr(version: &str) -> String {
    format!("v:{version}")
}

/// GSI2 keys of a crate summary: the sharded catalog.
pub fn catalog_index(name: &NormalizedName) -> (String, String) {
    (catalog_shard_pk(catalog_shard(name)), name.as_str().to_owned())
}

pub fn catalog_shard_pk(shard: u32) -> String {
    format!("CATALOG#{shard:02}")
}

/// Stable shard of a name (FNV-1a, independent of the process).
pub fn catalog_shard(name: &NormalizedName) -> u32 {
    fnv_shard(name.as_str(), CATALOG_SHARDS)
}

/// FNV-1a of `s` modulo `shards`: the same shard in every process and every version.
fn fnv_shard(s: &str, shards: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % shards
}

/// GSI1 keys of an owner item: crates by owner.
pub fn owned_crate_index(login: &Login, name: &NormalizedName) -> (String, String) {
    (user_pk(login), format!("{OWNED_CRATE_GSI_PREFIX}{}", name.as_str()))
}

pub fn user_pk(login: &Login) -> String {
    format!("USER#{}", login.as_str())
}

pub fn user(login: &Login) -> Key {
    Key::new(user_pk(login), "USER")
}

/// GSI2 keys of a user item: the user directory.
pub fn user_directory_index(login: &Login) -> (String, String) {
    (user_directory_pk(), login.as_str().to_owned())
}

/// GSI2 partition of the user directory.
pub fn user_directory_pk() -> String {
    "USERS".to_owned()
}

/// A token, looked up by the SHA-256 (hex) of its secret.
pub fn token(hash_hex: &str) -> Key {
    Key::new(format!("TOKEN#{hash_hex}"), "TOKEN")
}

/// GSI1 keys of a token: tokens by user.
pub fn token_index(login: &Login, name: &str) -> (String, String) {
    (user_pk(login), format!("{TOKEN_GSI_PREFIX}{name}"))
}

/// Sort-key prefix of the token-name markers in a user's partition.
pub const TOKEN_NAME_PREFIX: &str = "TOKENNAME#";

/// The uniqueness marker of a token name per user (points at the token hash).
pub fn token_name(login: &Login, name: &str) -> Key {
    Key::new(user_pk(login), format!("{TOKEN_NAME_PREFIX}{name}"))
}

/// A web session, looked up by the SHA-256 (hex) of its secret (the cookie value).
pub fn session(hash_hex: &str) -> Key {
    Key::new(format!("SESSION#{hash_hex}"), "SESSION")
}

/// GSI1 keys of a session: sessions by user (to revoke them all).
pub fn session_index(login: &Login, hash_hex: &str) -> (String, String) {
    (user_pk(login), format!("{SESSION_GSI_PREFIX}{hash_hex}"))
}

/// An in-flight OIDC login (PKCE verifier, nonce, where to go next), by the SHA-256 (hex) of its
/// `state` parameter.
pub fn sso_login(state_hash_hex: &str) -> Key {
    Key::new(format!("OIDCSTATE#{state_hash_hex}"), "OIDCSTATE")
}

/// The binding of an external (OIDC) identity to a user, by the SHA-256 (hex) of
/// `{issuer}\0{subject}` ([`identity_hash`]): the only way a single sign-on finds its account.
pub fn identity(identity_hash_hex: &str) -> Key {
    Key::new(format!("IDENTITY#{identity_hash_hex}"), "IDENTITY")
}

/// GSI1 keys of an identity binding: the identities of a user.
pub fn identity_index(login: &Login, identity_hash_hex: &str) -> (String, String) {
    (user_pk(login), format!("{IDENTITY_GSI_PREFIX}{identity_hash_hex}"))
}

/// The digest naming an external identity (issuer and subject are provider-chosen strings of any
/// length and alphabet; the key stays short and printable).
pub fn identity_hash(issuer: &str, subject: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(issuer.as_bytes());
    h.update([0u8]);
    h.update(subject.as_bytes());
    hex::encode(h.finalize())
}

/// One fixed window of an attempt counter: `scope` says what is counted (`login`, `addr`),
/// `subject_hash` whose attempts (hex digest), `window_start` the window's first unix second.
pub fn rate_limit(scope: &str, subject_hash: &str, window_start: i64) -> Key {
    Key::new(format!("RATELIMIT#{scope}#{subject_hash}"), format!("W#{window_start:012}"))
}

/// Partition-key prefix of `raktar migrate` checkpoints. They describe one copy into the store
/// that holds them, so migrations never copy them and verification does not count them.
pub const MIGRATION_PK_PREFIX: &str = "MIGRATION#";

/// The checkpoint of migrating from one source (identified by `source_id`, a digest of the source
/// stores' descriptions) into the store holding it.
pub fn migration_checkpoint(source_id: &str) -> Key {
    Key::new(format!("{MIGRATION_PK_PREFIX}{source_id}"), "CHECKPOINT")
}

/// Sort-key prefix of trusted-publishing configurations inside a crate partition (sorts before
/// `CRATE`, `DL#`, `OWNER#` and `VERSION#`: the crate-state query never reads them).
pub const TRUST_CONFIG_PREFIX: &str = "CITRUST#";

/// A trusted-publishing configuration of a crate.
pub fn trust_config(name: &NormalizedName, id: &str) -> Key {
    Key::new(crate_pk(name), format!("{TRUST_CONFIG_PREFIX}{id}"))
}

/// GSI1 keys of a trust configuration: the configurations naming one issuer (what a token
/// exchange reads).
pub fn trust_config_index(issuer: &str, name: &NormalizedName, id: &str) -> (String, String) {
    (trust_issuer_pk(issuer), format!("{}#{id}", name.as_str()))
}

/// GSI1 partition of the trust configurations of one issuer.
pub fn trust_issuer_pk(issuer: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("TRUSTISSUER#{}", hex::encode(Sha256::digest(issuer.as_bytes())))
}

/// The single-use marker of an exchanged ID token (`jti` of `issuer`).
pub fn used_jti(issuer: &str, jti: &str) -> Key {
    Key::new(format!("TRUSTJTI#{}", identity_hash(issuer, jti)), "JTI")
}

/// Sort key of a name reserved for private use (dependency-confusion guard) inside its crate
/// partition: `CRATE#RESERVED` sorts right after the summary (`CRATE`) and before `DL#`, so one
/// query `begins_with(sk, "CRATE")` reads both ("is this name private?").
pub const RESERVED_SK: &str = "CRATE#RESERVED";

/// The reservation of a crate name for private use.
pub fn reserved_name(name: &NormalizedName) -> Key {
    Key::new(crate_pk(name), RESERVED_SK)
}

/// GSI2 keys of a reservation: the list of reserved names.
pub fn reserved_name_index(name: &NormalizedName) -> (String, String) {
    (RESERVED_NAMES_PK.to_owned(), name.as_str().to_owned())
}

/// GSI2 partition listing every reserved name.
pub const RESERVED_NAMES_PK: &str = "RESERVED";

/// Partition of everything the pull-through cache holds for one upstream index file name (the
/// lowercase spelling cargo requests; upstream files are per spelling, not per normalized name).
pub fn upstream_pk(lowercase: &str) -> String {
    format!("UPSTREAM#{lowercase}")
}

/// The cached upstream index file of a name.
pub fn upstream_index(lowercase: &str) -> Key {
    Key::new(upstream_pk(lowercase), "INDEX")
}

/// Sort-key prefix of cached upstream `.crate` files in an upstream partition.
pub const UPSTREAM_CRATE_PREFIX: &str = "CRATE#";

/// A cached upstream `.crate` file (`vers` exactly as in the upstream index line).
pub fn upstream_crate(lowercase: &str, vers: &str) -> Key {
    Key::new(upstream_pk(lowercase), format!("{UPSTREAM_CRATE_PREFIX}{vers}"))
}

/// Shards of the GSI2 listings of the pull-through cache (admin views and purge).
pub const UPSTREAM_SHARDS: u32 = 16;

/// GSI2 keys of a cached upstream index file: `UPSTREAMINDEX#{shard}` / `{lowercase}`.
pub fn upstream_index_listing(lowercase: &str) -> (String, String) {
    (upstream_index_shard_pk(upstream_shard(lowercase)), lowercase.to_owned())
}

/// GSI2 keys of a cached upstream `.crate`: `UPSTREAMCRATE#{shard}` / `{lowercase}#{vers}`.
pub fn upstream_crate_listing(lowercase: &str, vers: &str) -> (String, String) {
    (upstream_crate_shard_pk(upstream_shard(lowercase)), format!("{lowercase}#{vers}"))
}

pub fn upstream_index_shard_pk(shard: u32) -> String {
    format!("UPSTREAMINDEX#{shard:02}")
}

pub fn upstream_crate_shard_pk(shard: u32) -> String {
    format!("UPSTREAMCRATE#{shard:02}")
}

/// Stable shard of an upstream name (FNV-1a, like the catalog's).
pub fn upstream_shard(lowercase: &str) -> u32 {
    fnv_shard(lowercase, UPSTREAM_SHARDS)
}

/// The pull-through cache's counters (sizes, hits, misses): atomic `ADD`s.
pub fn upstream_stats() -> Key {
    Key::new("UPSTREAMSTATS", "STATS")
}

/// A named atomic counter (user ids).
pub fn counter(name: &str) -> Key {
    Key::new(format!("COUNTER#{name}"), "COUNTER")
}

/// An audit event: partitioned by day, sorted by time.
pub fn audit(date: &str, timestamp: &str, id: &str) -> Key {
    Key::new(audit_pk(date), format!("{timestamp}#{id}"))
}

/// The partition of one day's audit events (`date` is `YYYY-MM-DD`).
pub fn audit_pk(date: &str) -> String {
    format!("AUDIT#{date}")
}
