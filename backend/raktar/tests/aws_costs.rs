//! DynamoDB requests per registry operation on the AWS home (DynamoDB items + S3 blobs on moto),
//! counted by the driver's metrics around real requests through the router.
//!
//! Run with `bash .ci/with-moto cargo test -p raktar --test aws_costs -- --nocapture` to see the
//! table (the numbers in `docs/data-model.md`, "Measured request counts"). Without
//! `RAKTAR_TEST_AWS_ENDPOINT` the test fails with instructions (it never passes silently).
//!
//! Every cargo request in private mode first authenticates its token (two `GetItem`s: token and
//! user; the token's last-used time is written at most once a minute). That cost is measured on
//! its own (`config.json` does nothing else) and subtracted from the other operations.

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
        let router = raktar_http::router(raktar_http::AppState::new(registry, PUBLIC_URL));
        Harness { router, store, token, home }
    }

    async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (StatusCode, String) {
        let mut request = Request::builder().method(method).uri(path).header("authorization", &self.token);
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
        "| {operation} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} |",
        m.requests(),
        m.get_item,
        m.query,
        m.put_item,
        m.update_item,
        m.transact_write_items,
        m.delete_item,
        m.read_capacity_units,
        m.write_capacity_units
    )
    .unwrap();
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
        "| operation | requests | GetItem | Query | PutItem | UpdateItem | TransactWriteItems | DeleteItem | RCU (moto) | WCU (moto) |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );

    // Token authentication alone: config.json needs nothing else.
    let (status, _, auth) = h.measure("GET", "/index/config.json", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    row(&mut table, "token authentication (every private request)", &auth);
    assert_eq!((auth.get_item, auth.requests()), (2, 2), "authentication reads the token and its user: {auth:?}");

    // Publish a new crate, then a new version of it.
    let first = PublishRequest::new("cost-demo", "1.0.0");
    let (status, body, m) = h.measure("PUT", "/api/v1/crates/new", &[], first.body()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let publish_new = minus(&m, &auth);
    row(&mut table, "publish (new crate)", &publish_new);
    let second = PublishRequest::new("cost-demo", "1.1.0");
    let (status, body, m) = h.measure("PUT", "/api/v1/crates/new", &[], second.body()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let publish_version = minus(&m, &auth);
    row(&mut table, "publish (new version)", &publish_version);
    for (what, m) in [("new crate", &publish_new), ("new version", &publish_version)] {
        assert_eq!(m.transact_write_items, 1, "a publish ({what}) commits in one transaction: {m:?}");
        assert_eq!(writes(m), 1, "a publish ({what}) writes nothing outside its transaction: {m:?}");
        assert!(
            m.get_item + m.query <= 3,
            "a publish ({what}) reads at most summary + one partition query (+1): {m:?}"
        );
    }

    // Index file: the publish forgot this process's cached file, so the first read is a miss.
    let index = "/index/co/st/cost-demo";
    let (status, etag, m) = h.measure("GET", index, &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    let index_miss = minus(&m, &auth);
    row(&mut table, "index file, cache miss", &index_miss);
    assert_eq!((index_miss.get_item, index_miss.query, index_miss.requests()), (1, 1, 2), "{index_miss:?}");
    let (status, _, m) = h.measure("GET", index, &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    let index_hit = minus(&m, &auth);
    row(&mut table, "index file, cache hit", &index_hit);
    assert_eq!((index_hit.get_item, index_hit.requests()), (1, 1), "{index_hit:?}");
    let (status, _, m) = h.measure("GET", index, &[("if-none-match", &etag)], vec![]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let revalidate = minus(&m, &auth);
    row(&mut table, "index file, 304 revalidation", &revalidate);
    assert_eq!((revalidate.get_item, revalidate.requests()), (1, 1), "a 304 reads one small item: {revalidate:?}");
    assert!(revalidate.read_capacity_units <= 1.0, "the summary item is small: {revalidate:?}");

    // Downloads redirect to S3 and count the download with one UpdateItem. A presigned URL says
    // nothing about the object, so the version item is read first (the checksum of the `dl`
    // template is confirmed on it; the plain API path needs it for the blob key anyway).
    let cksum = first.cksum();
    let (status, _, m) = h.measure("GET", &format!("/api/v1/dl/cost-demo/1.0.0/{cksum}"), &[], vec![]).await;
    assert_eq!(status, StatusCode::TEMPORARY_REDIRECT);
    let download = minus(&m, &auth);
    row(&mut table, "download (`dl` template with checksum)", &download);
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

    eprintln!("\nDynamoDB requests per operation (token authentication subtracted except on its own row):\n{table}");

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
}
