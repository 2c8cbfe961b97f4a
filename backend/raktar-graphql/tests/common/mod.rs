//! In-process fixture for the GraphQL schema: a registry over the embedded SQLite store (wrapped in
//! a call-counting decorator) and a filesystem blob store, seeded through the real publish service.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{Request, Variables};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use raktar_core::domain::{CratePattern, Login, Scope};
use raktar_core::model::Role;
use raktar_core::services::Principal;
use raktar_core::services::tokens::NewToken;
use raktar_core::store::{Blob, BlobError, BlobLocation, BlobStore, CountingItemStore, PutOutcome};
use raktar_core::{Registry, RegistryConfig};
use raktar_graphql::{GraphqlOptions, RaktarSchema, build_schema};
use raktar_store::{FsBlobStore, SqliteItemStore};
use serde_json::{Value, json};

/// A blob store that counts reads (`get`) of the wrapped one.
pub struct CountingBlobStore {
    inner: FsBlobStore,
    gets: AtomicUsize,
}

impl CountingBlobStore {
    /// Reads since the last call; resets the count.
    pub fn take_gets(&self) -> usize {
        self.gets.swap(0, Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl BlobStore for CountingBlobStore {
    async fn put_if_absent(&self, key: &str, data: Bytes, content_type: &str) -> Result<PutOutcome, BlobError> {
        self.inner.put_if_absent(key, data, content_type).await
    }
    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.inner.delete(key).await
    }
    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        self.inner.exists(key).await
    }
    async fn location(&self, key: &str) -> Result<BlobLocation, BlobError> {
        self.inner.location(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        self.inner.list(prefix).await
    }
    async fn list_modified(&self, prefix: &str) -> Result<Vec<(String, std::time::SystemTime)>, BlobError> {
        self.inner.list_modified(prefix).await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

pub struct Fixture {
    pub registry: Arc<Registry>,
    pub store: Arc<CountingItemStore>,
    pub blobs: Arc<CountingBlobStore>,
    pub schema: RaktarSchema,
    _blobs: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_options(GraphqlOptions::default())
    }

    pub fn with_options(opts: GraphqlOptions) -> Self {
        Self::build(opts, true)
    }

    /// A registry whose reads need no credentials (`--public-read`).
    pub fn public_read() -> Self {
        Self::build(GraphqlOptions::default(), false)
    }

    fn build(opts: GraphqlOptions, auth_required: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CountingItemStore::new(Arc::new(SqliteItemStore::open_in_memory().unwrap())));
        let blobs = Arc::new(CountingBlobStore {
            inner: FsBlobStore::new(dir.path().to_path_buf()),
            gets: AtomicUsize::new(0),
        });
        let registry = Arc::new(Registry::new(
            store.clone(),
            blobs.clone(),
            RegistryConfig { auth_required, ..RegistryConfig::default() },
        ));
        let schema = build_schema(registry.clone(), opts);
        Self { registry, store, blobs, schema, _blobs: dir }
    }

    /// A user acting through a cargo token with these scopes (empty: every scope) and crate
    /// patterns, authenticated as the HTTP edge would.
    pub async fn token(&self, login: &str, scopes: &[Scope], crates: &[&str]) -> Principal {
        let new = NewToken {
            name: format!("t{}", self.gets_name()),
            scopes: scopes.to_vec(),
            crates: crates.iter().map(|c| CratePattern::parse(c).unwrap()).collect(),
            expires_in_secs: None,
        };
        let created = self.registry.create_token("test", &Login::parse(login).unwrap(), new).await.unwrap();
        self.registry.authenticate(Some(&created.secret)).await.unwrap().unwrap()
    }

    fn gets_name(&self) -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::SeqCst)
    }

    /// A user acting through a web session (the user's full rights).
    pub async fn user(&self, login: &str, role: Role) -> Principal {
        let user = self.registry.create_user("test", &Login::parse(login).unwrap(), None, None, role).await.unwrap();
        Principal::new(user, None)
    }

    pub async fn publish(&self, who: &Principal, krate: &Krate) {
        self.registry
            .publish(who, krate.body())
            .await
            .unwrap_or_else(|e| panic!("publishing {} {}: {e}", krate.name, krate.vers));
    }

    /// Runs a query as `who`; returns the whole response as JSON (`data`, `errors`).
    pub async fn run(&self, who: Option<&Principal>, query: &str, vars: Value) -> Value {
        let request = Request::new(query).variables(Variables::from_json(vars));
        let response = self.schema.execute(request, who.cloned()).await;
        serde_json::to_value(&response).unwrap()
    }

    /// Runs a query as `who` signed in through the web session with the secret `session`.
    pub async fn run_in_session(&self, who: &Principal, session: &str, query: &str, vars: Value) -> Value {
        let request = Request::new(query).variables(Variables::from_json(vars));
        let secret = raktar_graphql::SessionSecret(Some(session.to_owned()));
        let response = self.schema.execute_for(request, Some(who.clone()), Some(secret)).await;
        serde_json::to_value(&response).unwrap()
    }

    /// Opens a real web session for `login`; returns its principal and secret.
    pub async fn session(&self, login: &str) -> (Principal, String) {
        let login = Login::parse(login).unwrap();
        let session = self
            .registry
            .create_session(&login, raktar_core::services::sessions::SessionMethod::Password)
            .await
            .unwrap();
        let secret = session.secret.expose().to_owned();
        let principal = self.registry.resolve_session(&secret).await.unwrap();
        (principal, secret)
    }

    /// Runs a query that must succeed; returns `data`.
    pub async fn data(&self, who: Option<&Principal>, query: &str, vars: Value) -> Value {
        let response = self.run(who, query, vars).await;
        assert!(response.get("errors").is_none_or(|e| e.as_array().is_some_and(Vec::is_empty)), "{response:#}");
        response["data"].clone()
    }
}

/// The codes of a response's errors.
pub fn codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| errors.iter().map(|e| e["extensions"]["code"].as_str().unwrap_or("<none>").to_owned()).collect())
        .unwrap_or_default()
}

/// A crate version to publish.
#[derive(Clone, Debug)]
pub struct Krate {
    pub name: String,
    pub vers: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub deps: Vec<(String, String)>,
    pub readme: Option<String>,
}

impl Krate {
    pub fn new(name: &str, vers: &str) -> Self {
        Self {
            name: name.to_owned(),
            vers: vers.to_owned(),
            description: format!("{name}: a test crate"),
            keywords: Vec::new(),
            deps: Vec::new(),
            readme: None,
        }
    }

    pub fn dep(mut self, name: &str, req: &str) -> Self {
        self.deps.push((name.to_owned(), req.to_owned()));
        self
    }

    pub fn readme(mut self, text: &str) -> Self {
        self.readme = Some(text.to_owned());
        self
    }

    pub fn keyword(mut self, k: &str) -> Self {
        self.keywords.push(k.to_owned());
        self
    }

    fn tarball(&self) -> Vec<u8> {
        let prefix = format!("{}-{}", self.name, self.vers);
        let manifest =
            format!("[package]\nname = \"{}\"\nversion = \"{}\"\nedition = \"2021\"\n", self.name, self.vers);
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in [("Cargo.toml", manifest.as_bytes()), ("src/lib.rs", b"pub fn f() {}\n".as_slice())] {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, format!("{prefix}/{path}"), data).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    }

    /// The `PUT /api/v1/crates/new` body.
    pub fn body(&self) -> Bytes {
        let deps: Vec<Value> = self
            .deps
            .iter()
            .map(|(name, req)| {
                json!({"name": name, "version_req": req, "features": [], "optional": false,
                       "default_features": true, "target": null, "kind": "normal"})
            })
            .collect();
        let meta = json!({
            "name": self.name, "vers": self.vers, "deps": deps, "features": {"default": [], "extra": []},
            "authors": ["Test <test@example.com>"], "description": self.description,
            "keywords": self.keywords, "categories": [], "license": "MIT",
            "repository": format!("https://example.com/{}", self.name),
            "readme": self.readme, "rust_version": "1.70",
        });
        let json = serde_json::to_vec(&meta).unwrap();
        let krate = self.tarball();
        let mut body = Vec::new();
        body.extend_from_slice(&(json.len() as u32).to_le_bytes());
        body.extend_from_slice(&json);
        body.extend_from_slice(&(krate.len() as u32).to_le_bytes());
        body.extend_from_slice(&krate);
        Bytes::from(body)
    }
}
