//! In-process fixture for the GraphQL schema: a registry over the embedded SQLite store (wrapped in
//! a call-counting decorator) and a filesystem blob store, seeded through the real publish service.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::Arc;

use async_graphql::{Request, Variables};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use raktar_core::domain::Login;
use raktar_core::model::Role;
use raktar_core::services::Principal;
use raktar_core::store::CountingItemStore;
use raktar_core::{Registry, RegistryConfig};
use raktar_graphql::{GraphqlOptions, RaktarSchema, build_schema};
use raktar_store::{FsBlobStore, SqliteItemStore};
use serde_json::{Value, json};

pub struct Fixture {
    pub registry: Arc<Registry>,
    pub store: Arc<CountingItemStore>,
    pub schema: RaktarSchema,
    _blobs: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with_options(GraphqlOptions::default())
    }

    pub fn with_options(opts: GraphqlOptions) -> Self {
        let blobs = tempfile::tempdir().unwrap();
        let store = Arc::new(CountingItemStore::new(Arc::new(SqliteItemStore::open_in_memory().unwrap())));
        let registry = Arc::new(Registry::new(
            store.clone(),
            Arc::new(FsBlobStore::new(blobs.path().to_path_buf())),
            RegistryConfig { auth_required: true, ..RegistryConfig::default() },
        ));
        let schema = build_schema(registry.clone(), opts);
        Self { registry, store, schema, _blobs: blobs }
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
