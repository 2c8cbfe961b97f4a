//! An in-process registry over the in-memory stores, for fast service-level tests (in the spirit of
//! crates-io's `TestApp`): no server, no disk, milliseconds per test.
//!
//! ```ignore
//! let app = TestRegistry::new().with_user("alice").await;
//! let alice = app.token("alice", &[Scope::PublishNew], &["foo-*"]).await;
//! let before = app.snapshot();
//! assert!(app.publish(&alice, body).await.is_err());
//! assert_eq!(app.snapshot(), before, "a refused publish changes nothing");
//! ```
//!
//! The HTTP edge's tests put `raktar_http::router` in front of it (no socket, no process): see
//! `backend/raktar-http/tests/common/mod.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::memory::{MemoryBlobStore, MemoryItemStore};
use crate::domain::{CratePattern, DomainResult, Login, Scope};
use crate::model::Role;
use crate::services::auth::hash_token;
use crate::services::publish::PublishOutcome;
use crate::services::tokens::NewToken;
use crate::services::{Principal, Registry, RegistryConfig, clock};
use crate::store::item::{Item, ItemStore, Key, Update};

/// A registry over fresh in-memory stores.
pub struct TestRegistry {
    pub registry: Arc<Registry>,
    pub items: Arc<MemoryItemStore>,
    pub blobs: Arc<MemoryBlobStore>,
    tokens: usize,
}

/// A token minted by [`TestRegistry::mint`]: its name (for revoking) and its secret (what a
/// client sends).
#[derive(Debug, Clone)]
pub struct TestToken {
    pub name: String,
    pub secret: String,
}

/// Every item and every blob of a [`TestRegistry`] at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub items: BTreeMap<Key, Item>,
    pub blobs: BTreeMap<String, Bytes>,
}

impl Snapshot {
    /// What changed from `self` to `after`, one readable line per item or blob (empty when
    /// nothing did).
    pub fn diff(&self, after: &Snapshot) -> String {
        let mut out = Vec::new();
        for (key, item) in &after.items {
            match self.items.get(key) {
                None => out.push(format!("item added: {} {}", key.pk, key.sk)),
                Some(old) if old != item => {
                    out.push(format!("item changed: {} {}\n  before: {old:?}\n  after:  {item:?}", key.pk, key.sk))
                }
                Some(_) => {}
            }
        }
        out.extend(
            self.items
                .keys()
                .filter(|k| !after.items.contains_key(*k))
                .map(|k| format!("item removed: {} {}", k.pk, k.sk)),
        );
        for (key, bytes) in &after.blobs {
            match self.blobs.get(key) {
                None => out.push(format!("blob added: {key}")),
                Some(old) if old != bytes => out.push(format!("blob changed: {key}")),
                Some(_) => {}
            }
        }
        out.extend(self.blobs.keys().filter(|k| !after.blobs.contains_key(*k)).map(|k| format!("blob removed: {k}")));
        out.join("\n")
    }
}

impl Default for TestRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl TestRegistry {
    /// A registry with the default configuration.
    pub fn new() -> Self {
        Self::with_config(RegistryConfig::default())
    }

    /// A registry with `config`.
    pub fn with_config(config: RegistryConfig) -> Self {
        Self::build(config, |registry| registry)
    }

    /// A registry with `config`, finished by `finish` (an upstream, for example).
    pub fn build(config: RegistryConfig, finish: impl FnOnce(Registry) -> Registry) -> Self {
        let items = Arc::new(MemoryItemStore::new());
        let blobs = Arc::new(MemoryBlobStore::new());
        let registry = Arc::new(finish(Registry::new(items.clone(), blobs.clone(), config)));
        Self { registry, items, blobs, tokens: 0 }
    }

    /// Another registry instance over the same stores, with its own caches and per-crate locks: what
    /// a second server process (or Lambda instance) is, for races that only conditional writes
    /// resolve.
    pub fn second_instance(&self, config: RegistryConfig) -> Arc<Registry> {
        Arc::new(Registry::new(self.items.clone(), self.blobs.clone(), config))
    }

    /// Adds a member `login`.
    pub async fn with_user(self, login: &str) -> Self {
        self.add_user(login).await;
        self
    }

    /// Adds an administrator `login`.
    pub async fn with_admin(self, login: &str) -> Self {
        self.add_admin(login).await;
        self
    }

    /// Adds a member `login`.
    pub async fn add_user(&self, login: &str) {
        self.add_with_role(login, Role::Member).await;
    }

    /// Adds an administrator `login`.
    pub async fn add_admin(&self, login: &str) {
        self.add_with_role(login, Role::Admin).await;
    }

    async fn add_with_role(&self, login: &str, role: Role) {
        let login = Login::parse(login).unwrap();
        self.registry.create_user("test", &login, None, None, role).await.unwrap();
    }

    /// A principal acting through a new token of `login` with `scopes` (empty: every scope) and
    /// crate `patterns` (empty: every crate), resolved the way a request resolves its token.
    pub async fn token(&mut self, login: &str, scopes: &[Scope], patterns: &[&str]) -> Principal {
        let token = self.mint(login, scopes, patterns).await;
        self.registry.authenticate(Some(&token.secret)).await.unwrap().expect("a fresh token authenticates")
    }

    /// A new token of `login` with `scopes` (empty: every scope) and crate `patterns` (empty: every
    /// crate), for requests through the HTTP edge.
    pub async fn mint(&mut self, login: &str, scopes: &[Scope], patterns: &[&str]) -> TestToken {
        self.tokens += 1;
        let name = format!("test-{}", self.tokens);
        let new = NewToken {
            name: name.clone(),
            scopes: scopes.to_vec(),
            crates: patterns.iter().map(|p| CratePattern::parse(p).unwrap()).collect(),
            expires_in_secs: None,
        };
        let created = self.registry.create_token("test", &Login::parse(login).unwrap(), new).await.unwrap();
        TestToken { name, secret: created.secret }
    }

    /// Revokes `token` of `login`, as its owner would.
    pub async fn revoke(&self, login: &str, token: &TestToken) {
        self.registry.revoke_token("test", &Login::parse(login).unwrap(), &token.name).await.unwrap();
    }

    /// Makes `token` expired a minute ago (its stored expiry is moved back: no test waits for a
    /// clock). The write changes the store's change marker, so no cached principal outlives it.
    pub async fn expire(&self, token: &TestToken) {
        let past = clock::now() - time::Duration::minutes(1);
        let update = Update::new().set("expires_unix", past.unix_timestamp()).set("expires_at", clock::format(past));
        self.items.update(&crate::model::keys::token(&hash_token(&token.secret)), update, None).await.unwrap();
    }

    /// `Registry::publish` with a raw cargo publish body.
    pub async fn publish(&self, principal: &Principal, body: impl Into<Bytes>) -> DomainResult<PublishOutcome> {
        self.registry.publish(principal, body.into()).await
    }

    /// Every item and blob, for "a refusal changes nothing" assertions.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot { items: self.items.snapshot(), blobs: self.blobs.snapshot() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_publish_changes_nothing() {
        let mut app = TestRegistry::new().with_user("alice").await;
        let alice = app.token("alice", &[Scope::Read], &[]).await;
        let before = app.snapshot();
        assert!(app.publish(&alice, Bytes::from_static(b"\x01\x00")).await.is_err());
        assert_eq!(app.snapshot(), before);
    }

    #[tokio::test]
    async fn publish_in_process_with_the_shared_fixtures() {
        use crate::testkit::fixtures::PublishRequest;
        let mut app = TestRegistry::new().with_user("alice").await;
        let reader = app.token("alice", &[Scope::Read], &[]).await;
        let before = app.snapshot();
        let refused = app.publish(&reader, PublishRequest::new("demo", "1.0.0").body()).await;
        assert!(refused.is_err(), "a read-only token cannot publish");
        assert_eq!(app.snapshot(), before, "a refused publish changes nothing");
        let publisher = app.token("alice", &[Scope::PublishNew], &["demo"]).await;
        app.publish(&publisher, PublishRequest::new("demo", "1.0.0").body()).await.unwrap();
        assert_ne!(app.snapshot(), before);
        assert_eq!(app.blobs.snapshot().keys().filter(|k| k.ends_with(".crate")).count(), 1);
    }

    #[tokio::test]
    async fn minted_tokens_can_be_revoked_and_expired() {
        let mut app = TestRegistry::new().with_user("alice").await;
        let revoked = app.mint("alice", &[], &[]).await;
        let expired = app.mint("alice", &[], &[]).await;
        for token in [&revoked, &expired] {
            assert!(app.registry.authenticate(Some(&token.secret)).await.unwrap().is_some());
        }
        app.revoke("alice", &revoked).await;
        app.expire(&expired).await;
        let refused = app.registry.authenticate(Some(&revoked.secret)).await.unwrap_err();
        assert!(refused.to_string().contains("revoked"), "{refused}");
        let refused = app.registry.authenticate(Some(&expired.secret)).await.unwrap_err();
        assert!(refused.to_string().contains("expired"), "{refused}");
    }

    #[tokio::test]
    async fn a_second_instance_shares_the_stores() {
        let mut app = TestRegistry::new().with_user("alice").await;
        let token = app.mint("alice", &[], &[]).await;
        let other = app.second_instance(RegistryConfig::default());
        let principal = other.authenticate(Some(&token.secret)).await.unwrap().unwrap();
        assert_eq!(principal.login(), "alice");
    }
}
