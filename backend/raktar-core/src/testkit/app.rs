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
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::memory::{MemoryBlobStore, MemoryItemStore};
use crate::domain::{CratePattern, DomainResult, Login, Scope};
use crate::model::Role;
use crate::services::publish::PublishOutcome;
use crate::services::tokens::NewToken;
use crate::services::{Principal, Registry, RegistryConfig};
use crate::store::item::{Item, Key};

/// A registry over fresh in-memory stores.
pub struct TestRegistry {
    pub registry: Registry,
    pub items: Arc<MemoryItemStore>,
    pub blobs: Arc<MemoryBlobStore>,
    tokens: usize,
}

/// Every item and every blob of a [`TestRegistry`] at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub items: BTreeMap<Key, Item>,
    pub blobs: BTreeMap<String, Bytes>,
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
        let items = Arc::new(MemoryItemStore::new());
        let blobs = Arc::new(MemoryBlobStore::new());
        let registry = Registry::new(items.clone(), blobs.clone(), config);
        Self { registry, items, blobs, tokens: 0 }
    }

    /// Adds a member `login`.
    pub async fn with_user(self, login: &str) -> Self {
        self.add_user(login, Role::Member).await;
        self
    }

    /// Adds an administrator `login`.
    pub async fn with_admin(self, login: &str) -> Self {
        self.add_user(login, Role::Admin).await;
        self
    }

    async fn add_user(&self, login: &str, role: Role) {
        let login = Login::parse(login).unwrap();
        self.registry.create_user("test", &login, None, None, role).await.unwrap();
    }

    /// A principal acting through a new token of `login` with `scopes` (empty: every scope) and
    /// crate `patterns` (empty: every crate), resolved the way a request resolves its token.
    pub async fn token(&mut self, login: &str, scopes: &[Scope], patterns: &[&str]) -> Principal {
        self.tokens += 1;
        let new = NewToken {
            name: format!("test-{}", self.tokens),
            scopes: scopes.to_vec(),
            crates: patterns.iter().map(|p| CratePattern::parse(p).unwrap()).collect(),
            expires_in_secs: None,
        };
        let created = self.registry.create_token("test", &Login::parse(login).unwrap(), new).await.unwrap();
        self.registry.authenticate(Some(&created.secret)).await.unwrap().expect("a fresh token authenticates")
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
}
