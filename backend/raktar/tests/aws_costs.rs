//! DynamoDB requests and read request units per registry operation on the AWS home (DynamoDB
//! items + S3 blobs on moto), counted by the driver's metrics around real requests through the
//! router.
//!
//! Run with `bash .ci/with-moto cargo test -p raktar --test aws_costs -- --nocapture` to see the
//! table (the numbers in `docs/data-model.md`, "Measured request counts", and the cost table of
//! `docs/deploy-aws.md`). Without `RAKTAR_TEST_AWS_ENDPOINT` the test fails with instructions (it
//! never passes silently).
//!
//! Every cargo request in private mode first authenticates its token: one strongly consistent
//! `GetItem` of the token item, which carries what authorization needs of its user (the token's
//! last-used time is written at most once a minute). That cost is measured on its own
//! (`config.json` does nothing else), shown with and without it for the headline operations, and
//! subtracted from the others.
//!
//! Read request units are the driver's own figure (item sizes and read consistency, as DynamoDB
//! on-demand bills them; moto reports a flat 0.5 per `GetItem`). Write request units are computed
//! here from the sizes of the items written (1 KB steps, doubled inside a transaction).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::publish::PublishRequest;
use raktar_aws::{DynamoItemStore, DynamoMetrics, S3BlobStore};
use raktar_core::domain::Login;
use raktar_core::model::Role;
use raktar_core::services::tokens::NewToken;
use raktar_core::{Registry, RegistryConfig};
use tower::ServiceExt;

const PUBLIC_URL: &str = "https://registry.example.com";

struct Harness {
    router: axum::Router,
    registry: Arc<Registry>,
    store: DynamoItemStore,
    token: String,
    home: common::aws::AwsHome,
}

impl Harness {
    async fn new() -> Self {
        let endpoint = common::aws::endpoint();
        let table = common::aws::unique("raktar-costs");
        let bucket = common::aws::unique("raktar-costs");
        let dynamo = common::aws::dynamo_client(&endpoint);
        let s3 = common::aws::s3_client(&endpoint);
        raktar_aws::create_table(&dynamo, &table).await.unwrap();
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let home = common::aws::AwsHome { endpoint, table: table.clone(), bucket: bucket.clone() };
        let store = DynamoItemStore::new(dynamo, table);
        let blobs = S3BlobStore::new(s3, bucket, Some("blobs".into()), Duration::from_secs(300), true);
        let registry = Arc::new(Registry::new(Arc::new(store.clone()), Arc::new(blobs), RegistryConfig::default()));
        let login = Login::parse("alice").unwrap();
        registry.create_user("test", &login, None, None, Role::Member).await.unwrap();
        let new_token = NewToken { name: "costs".into(), scopes: vec![], crates: vec![], expires_in_secs: None };
        let token = registry.create_token("test", &login, new_token).await.unwrap().secret;
        let router = raktar_http::router(raktar_http::AppState::new(registry.clone(), PUBLIC_URL));
        Harness { router, registry, store, token, home }
    }

    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (StatusCode, String) {
        self.call_as(&self.token, method, path, headers, body).await
    }

    async fn call_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, String) {
        let mut request = Request::builder().method(method).uri(path).header("authorization", token);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = self.router.clone().oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let status = response.status();
        let etag = response.headers().get("etag").map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        // The ETag is what the revalidation needs; otherwise the body.
        (status, etag.unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Runs one request and returns its status, ETag or body, and the DynamoDB requests it sent.
    async fn measure(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, String, DynamoMetrics) {
        let before = self.store.metrics();
        let (status, text) = self.call(method, path, headers, body).await;
        (status, text, self.store.metrics().since(&before))
    }
}

/// `m` minus the token authentication `auth` (request counts and units).
fn minus(m: &DynamoMetrics, auth: &DynamoMetrics) -> DynamoMetrics {
    m.since(auth)
}

fn row(out: &mut String, operation: &str, m: &DynamoMetrics) {
    writeln!(
        out,
        "| {operation} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
        m.requests(),
        m.get_item,
        m.query,
        m.put_item,
        m.update_item,
        m.transact_write_items,
        m.delete_item,
        m.read_request_units,
    )
    .unwrap();
}

/// Write request units of writing an item of `bytes` (1 KB steps, at least one).
fn wru(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// Waits until the store has seen `n` more `UpdateItem`s or `PutItem`s than in `before` (the
/// best-effort background writes: last-used time, back-filled items), then a little longer so
/// their answers land too.
async fn settle_writes(store: &DynamoItemStore, before: &DynamoMetrics, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while writes(&store.metrics().since(before)) < n {
        assert!(Instant::now() < deadline, "a background write never happened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

fn writes(m: &DynamoMetrics) -> u64 {
    m.put_item + m.update_item + m.delete_item + m.transact_write_items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_requests_per_registry_operation() {
    let h = Harness::new().await;

    // Warm-up: the first authenticated request records the token's last use (a background
    // UpdateItem, at most once a minute); wait for it so it does not land in a measurement.
    let (status, _) = h.call("GET", "/index/config.json", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.store.metrics().update_item == 0 {
        assert!(Instant::now() < deadline, "the token's last-used write never happened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The request is counted when sent; let its response (and reported capacity) land too.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut table = String::from(
        "| operation | requests | GetItem | Query | PutItem | UpdateItem | TransactWriteItems | DeleteItem | read request units |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );

    // Token authentication alone: config.json needs nothing else.
    let (status, _, auth) = h.measure("GET", "/index/config.json", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    row(&mut table, "token authentication (every private request)", &auth);
    assert_eq!(
        (auth.get_item, auth.requests()),
        (1, 1),
        "authentication reads the token item alone (it carries its user's role and state): {auth:?}"
    );
    assert_eq!(auth.read_request_units, 1.0, "one strongly consistent read of a small item: {auth:?}");

    // Publish a new crate, then a new version of it.
    let first = PublishRequest::new("cost-demo", "1.0.0");
    let (status, body, m) = h.measure("PUT", "/api/v1/crates/new", &[], first.body()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let publish_new = minus(&m, &auth);
    row(&mut table, "publish (new crate)", &publish_new);
    let publish_new_total = m;
    let second = PublishRequest::new("cost-demo", "1.1.0");
    let (status, body, m) = h.measure("PUT", "/api/v1/crates/new", &[], second.body()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let publish_version = minus(&m, &auth);
    row(&mut table, "**publish (new version), authentication included**", &m);
    row(&mut table, "publish (new version)", &publish_version);
    let publish_version_total = m;
    for (what, m) in [("new crate", &publish_new), ("new version", &publish_version)] {
        assert_eq!(m.transact_write_items, 1, "a publish ({what}) commits in one transaction: {m:?}");
        assert_eq!(writes(m), 1, "a publish ({what}) writes nothing outside its transaction: {m:?}");
        assert!(
            m.get_item + m.query <= 3,
            "a publish ({what}) reads at most summary + one partition query (+1): {m:?}"
        );
    }

    // Index file: the publish wrote the file ready to serve; any instance serves it from that one
    // item (eventually consistent), with no in-process cache needed.
    let index = "/index/co/st/cost-demo";
    let (status, etag, fetch) = h.measure("GET", index, &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    row(&mut table, "**private index fetch, authentication included**", &fetch);
    assert_eq!((fetch.get_item, fetch.requests()), (2, 2), "the token and the ready file: {fetch:?}");
    assert!(
        fetch.read_request_units <= 1.5,
        "a private index fetch costs at most 1.5 read request units, authentication included: {fetch:?}"
    );
    let index_read = minus(&fetch, &auth);
    row(&mut table, "index file (ready item, eventually consistent)", &index_read);
    assert_eq!(index_read.read_request_units, 0.5, "{index_read:?}");
    let (status, _, m) = h.measure("GET", index, &[("if-none-match", &etag)], vec![]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    row(&mut table, "private index fetch answered 304, authentication included", &m);
    assert!(m.read_request_units <= 1.5, "a 304 reads the same two items: {m:?}");
    // Missing crates (cargo's `-`/`_` probes): the ready item is absent, so the summary is read
    // (strongly) to tell a missing crate from one written before ready files existed.
    let (status, _, m) = h.measure("GET", "/index/co/st/cost_demo", &[], vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    row(&mut table, "index fetch of another spelling (404), authentication included", &m);

    // Downloads redirect to S3 and count the download with one UpdateItem. A presigned URL says
    // nothing about the object, so the version item is read first (the checksum of the `dl`
    // template is confirmed on it; the plain API path needs it for the blob key anyway).
    let cksum = first.cksum();
    let (status, _, m) = h.measure("GET", &format!("/api/v1/dl/cost-demo/1.0.0/{cksum}"), &[], vec![]).await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    row(&mut table, "**download, authentication included**", &m);
    let download_total = m;
    let download = minus(&m, &auth);
    row(&mut table, "download (`dl` template with checksum)", &download);
    assert_eq!(download.read_request_units, 0.5, "the version item is read eventually consistent: {download:?}");
    assert_eq!(
        (download.get_item, download.update_item, download.requests()),
        (1, 1, 2),
        "a download is one version read and one counter update: {download:?}"
    );
    let wrong = "0".repeat(64);
    let (status, _, m) = h.measure("GET", &format!("/api/v1/dl/cost-demo/1.0.0/{wrong}"), &[], vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a wrong checksum is refused before any redirect");
    let refused = minus(&m, &auth);
    row(&mut table, "download with a wrong checksum (404)", &refused);
    assert_eq!((refused.get_item, writes(&refused)), (1, 0), "a refused download counts nothing: {refused:?}");
    let (status, _, m) = h.measure("GET", "/api/v1/crates/cost-demo/1.0.0/download", &[], vec![]).await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    let download_api = minus(&m, &auth);
    row(&mut table, "download (`/api/v1/crates/{name}/{version}/download`)", &download_api);
    assert_eq!(
        (download_api.get_item, download_api.update_item, download_api.requests()),
        (1, 1, 2),
        "{download_api:?}"
    );

    // Yank: one transaction after reading the crate's state.
    let (status, body, m) = h.measure("DELETE", "/api/v1/crates/cost-demo/1.1.0/yank", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let yank = minus(&m, &auth);
    row(&mut table, "yank", &yank);
    assert_eq!((yank.transact_write_items, writes(&yank)), (1, 1), "{yank:?}");

    // Owners list and search (the catalog is loaded once per 30 s from its shards).
    let (status, body, m) = h.measure("GET", "/api/v1/crates/cost-demo/owners", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let owners = minus(&m, &auth);
    row(&mut table, "list owners", &owners);
    let (status, body, m) = h.measure("GET", "/api/v1/crates?q=cost", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let search = minus(&m, &auth);
    row(&mut table, "search (catalog load)", &search);
    assert!(search.query <= 16 + 1, "a catalog load queries each of the 16 shards once: {search:?}");
    let (status, _, m) = h.measure("GET", "/api/v1/crates?q=cost", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    let search_cached = minus(&m, &auth);
    row(&mut table, "search (catalog cached)", &search_cached);
    assert_eq!(search_cached.requests(), 0, "{search_cached:?}");

    eprintln!(
        "\nDynamoDB requests per operation (token authentication subtracted except on its own and the bold rows):\n{table}"
    );

    revocation_and_upgrade_paths(&h).await;

    // Item sizes by type (the JSON text of each item: close to, and above, DynamoDB's item size),
    // for turning request counts into request units.
    let items = tokio::task::spawn_blocking(move || h.home.items()).await.unwrap();
    let mut sizes: std::collections::BTreeMap<String, Vec<usize>> = std::collections::BTreeMap::new();
    for (_, _, json) in &items {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        let kind = value["type"].as_str().unwrap_or("?").to_string();
        sizes.entry(kind).or_default().push(json.len());
    }
    let mut out = String::from("| item type | items | largest (bytes) |\n|---|---|---|\n");
    for (kind, list) in &sizes {
        writeln!(out, "| {kind} | {} | {} |", list.len(), list.iter().max().unwrap()).unwrap();
    }
    eprintln!("Item sizes after the run:\n{out}");
    assert!(sizes.values().flatten().all(|&n| n < 4096), "every item stays below one 4 KB read unit: {sizes:?}");

    // Write request units from the item sizes (JSON text: a little above DynamoDB's own size, so
    // the figures err high). A transaction bills each item twice; each GSI entry written (the
    // summary's catalog entry, a new owner's entry) one unit more.
    let largest = |kind: &str| sizes.get(kind).and_then(|l| l.iter().max().copied()).unwrap_or(0);
    let tx_new_crate = 2.0
        * (wru(largest("version"))
            + wru(largest("crate"))
            + wru(largest("owner"))
            + wru(largest("audit"))
            + wru(largest("index-file")))
        + wru(largest("crate"))
        + wru(largest("owner"));
    let tx_new_version = 2.0
        * (wru(largest("version")) + wru(largest("crate")) + wru(largest("audit")) + wru(largest("index-file")))
        + wru(largest("crate"));
    let download_counter = wru(largest("downloads"));
    eprintln!(
        "Request units per operation, authentication included (reads measured; writes from item sizes):\n\
         | operation | read request units | write request units |\n|---|---|---|\n\
         | private index fetch | {:.1} | 0 |\n\
         | download (redirect to S3) | {:.1} | {download_counter:.0} |\n\
         | publish, new crate | {:.1} | {tx_new_crate:.0} |\n\
         | publish, new version | {:.1} | {tx_new_version:.0} |\n",
        fetch.read_request_units,
        download_total.read_request_units,
        publish_new_total.read_request_units,
        publish_version_total.read_request_units,
    );
}

/// Revocation, disabling and role changes stop a token at the very next request (the token item
/// is read strongly consistent and carries its user's state); tokens and crates written before
/// those items carried what serving needs still work and are back-filled once.
async fn revocation_and_upgrade_paths(h: &Harness) {
    let alice = Login::parse("alice").unwrap();
    let admin = Login::parse("root").unwrap();
    h.registry.create_user("test", &admin, None, None, Role::Admin).await.unwrap();
    let new_token = NewToken { name: "admin".into(), scopes: vec![], crates: vec![], expires_in_secs: None };
    let root = h.registry.create_token("test", &admin, new_token).await.unwrap().secret;
    let root = h.registry.authenticate(Some(root.as_str())).await.unwrap();
    let second = NewToken { name: "second".into(), scopes: vec![], crates: vec![], expires_in_secs: None };
    let second = h.registry.create_token("test", &alice, second).await.unwrap().secret;
    let index = "/index/co/st/cost-demo";

    // Disabling: both of alice's tokens stop at once, and come back when she is enabled again.
    h.registry.set_user_disabled(root.as_ref(), &alice, true).await.unwrap();
    for token in [&h.token, &second] {
        let (status, body) = h.call_as(token, "GET", index, &[], vec![]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a disabled user's token: {body}");
    }
    h.registry.set_user_disabled(root.as_ref(), &alice, false).await.unwrap();
    let (status, _) = h.call_as(&second, "GET", index, &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);

    // Role changes: a promoted token administers at once, a demoted one stops at once.
    let p = h.registry.authenticate(Some(second.as_str())).await.unwrap().unwrap();
    assert!(!p.is_admin());
    h.registry.set_user_role(root.as_ref(), &alice, Role::Admin).await.unwrap();
    let p = h.registry.authenticate(Some(second.as_str())).await.unwrap().unwrap();
    assert!(p.is_admin(), "a promotion reaches the token item");
    h.registry.set_user_role(root.as_ref(), &alice, Role::Member).await.unwrap();
    let p = h.registry.authenticate(Some(second.as_str())).await.unwrap().unwrap();
    assert!(!p.is_admin(), "a demotion reaches the token item");

    // Revocation: the next request fails.
    h.registry.revoke_token("test", &alice, "second").await.unwrap();
    let (status, _) = h.call_as(&second, "GET", index, &[], vec![]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked token");

    // A token item written before tokens carried their account: two reads, then back-filled.
    let hash = raktar_core::services::auth::hash_token(&h.token);
    let key = raktar_core::model::keys::token(&hash);
    let update = raktar_core::store::Update::new().remove("account");
    raktar_core::store::ItemStore::update(&h.store, &key, update, None).await.unwrap();
    let before = h.store.metrics();
    let (status, _, m) = h.measure("GET", "/index/config.json", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m.get_item, 2, "an old token item: token and user: {m:?}");
    settle_writes(&h.store, &before, 1).await;
    let (status, _, m) = h.measure("GET", "/index/config.json", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m.get_item, 1, "the token item was back-filled with its account: {m:?}");

    // A crate last changed before ready index files: summary and versions, then back-filled.
    let norm = raktar_core::domain::CrateName::parse("cost-demo").unwrap().normalized();
    let ready = raktar_core::model::keys::index_file(&norm);
    let (_, body_before) = h.call("GET", index, &[], vec![]).await;
    raktar_core::store::ItemStore::delete(&h.store, &ready, None).await.unwrap();
    let before = h.store.metrics();
    let (status, body, m) = h.measure("GET", index, &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((m.get_item, m.query), (3, 1), "token, ready item (absent), summary; versions: {m:?}");
    settle_writes(&h.store, &before, 1).await;
    let (status, body_after, m) = h.measure("GET", index, &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((m.get_item, m.query), (2, 0), "the ready item was back-filled: {m:?}");
    assert_eq!(body, body_after, "the same file (ETag) before and after the back-fill");
    assert_eq!(body_before, body_after);
}
