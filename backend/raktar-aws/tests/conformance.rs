//! The shared conformance suites, run against the DynamoDB and S3 drivers on moto server.
//!
//! Needs `RAKTAR_TEST_AWS_ENDPOINT` (a moto server); run with
//! `bash .ci/with-moto cargo test -p raktar-aws`. Without it every test here fails (never passes
//! silently). Credentials are fixed fakes set on the client configuration, and every client has
//! an explicit endpoint, so nothing can reach AWS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use bytes::Bytes;
use raktar_aws::{DynamoItemStore, S3BlobStore, create_table};
use raktar_core::store::blob::{BlobLocation, BlobStore, PutOutcome};
use raktar_core::store::item::{Condition, Index, Item, ItemStore, Key, Query, TxOp, Update};
use serde_json::json;

const REGION: &str = "us-east-1";
const PRESIGN_EXPIRY: Duration = Duration::from_secs(300);

/// The moto endpoint, or a failure that says how to run these tests.
fn endpoint() -> String {
    match std::env::var("RAKTAR_TEST_AWS_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint,
        _ => panic!(
            "RAKTAR_TEST_AWS_ENDPOINT is not set: the AWS driver tests need a moto server. \
             Run them with `bash .ci/with-moto cargo test -p raktar-aws` (it installs moto into .venv, \
             starts it and sets the variable)."
        ),
    }
}

fn credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "raktar-test")
}

fn dynamo_client() -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint())
        .credentials_provider(credentials())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

fn s3_client() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint())
        .credentials_provider(credentials())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A unique table or bucket name (lowercase, valid for both).
fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

/// A DynamoDB store on a fresh table.
async fn fresh_table() -> DynamoItemStore {
    let client = dynamo_client();
    let table = unique("raktar-ct");
    create_table(&client, &table).await.unwrap();
    DynamoItemStore::new(client, table)
}

async fn fresh_bucket_name(client: &aws_sdk_s3::Client) -> String {
    let bucket = unique("raktar-ct");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    bucket
}

/// An S3 store on a fresh bucket.
async fn fresh_bucket(prefix: Option<&str>) -> S3BlobStore {
    let client = s3_client();
    let bucket = fresh_bucket_name(&client).await;
    S3BlobStore::new(client, bucket, prefix.map(str::to_owned), PRESIGN_EXPIRY, true)
}

async fn items() -> Arc<dyn ItemStore> {
    Arc::new(fresh_table().await)
}

async fn blobs(prefix: Option<&str>) -> Arc<dyn BlobStore> {
    Arc::new(fresh_bucket(prefix).await)
}

raktar_core::item_store_conformance!(dynamodb_items, items().await);
raktar_core::blob_store_conformance!(s3_blobs, blobs(None).await);
raktar_core::blob_store_conformance!(s3_blobs_under_prefix, blobs(Some("registry/blobs")).await);

/// The whole item suite at once, every test concurrently, against one shared table; then again in
/// order. Prints the requests and capacity the suite used.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn item_suite_on_one_shared_table() {
    let store = fresh_table().await;
    let shared: Arc<dyn ItemStore> = Arc::new(store.clone());
    raktar_core::testkit::item::run_all_concurrently_then_in_order(shared).await;
    let metrics = store.metrics();
    eprintln!("item suite twice on {}: {metrics:?}", store.describe());
    assert!(metrics.requests() > 0);
}

/// The whole blob suite at once, every test concurrently, against one shared bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blob_suite_on_one_shared_bucket() {
    let store = blobs(Some("shared")).await;
    raktar_core::testkit::blob::run_all_concurrently_then_in_order(store).await;
}

// ----------------------------------------------------------------------------------------------
// Driver-specific checks against the wire APIs

/// The created table has the exported definition: keys, both indexes with every attribute
/// projected, on-demand billing and TTL.
#[tokio::test]
async fn created_table_matches_the_definition() {
    let store = fresh_table().await;
    let client = dynamo_client();
    let table = client.describe_table().table_name(store.table()).send().await.unwrap().table.unwrap();
    let keys: Vec<(String, String)> =
        table.key_schema().iter().map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned())).collect();
    assert_eq!(keys, [("pk".into(), "HASH".into()), ("sk".into(), "RANGE".into())]);
    let mut indexes: Vec<(String, Vec<String>, Option<String>)> = table
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            (
                i.index_name().unwrap_or_default().to_owned(),
                i.key_schema().iter().map(|k| k.attribute_name().to_owned()).collect(),
                i.projection().and_then(|p| p.projection_type()).map(|p| p.as_str().to_owned()),
            )
        })
        .collect();
    indexes.sort();
    assert_eq!(
        indexes,
        [
            ("gsi1".into(), vec!["gsi1pk".into(), "gsi1sk".into()], Some("ALL".into())),
            ("gsi2".into(), vec!["gsi2pk".into(), "gsi2sk".into()], Some("ALL".into())),
        ]
    );
    let billing = table.billing_mode_summary().and_then(|b| b.billing_mode()).map(|b| b.as_str().to_owned());
    assert_eq!(billing.as_deref(), Some("PAY_PER_REQUEST"));
    let ttl = client.describe_time_to_live().table_name(store.table()).send().await.unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    assert_eq!(ttl.time_to_live_status().map(|s| s.as_str()), Some("ENABLED"));
}

/// The driver counts one request per call and reports the capacity DynamoDB returns.
#[tokio::test]
async fn metrics_count_requests_per_operation() {
    let store = fresh_table().await;
    let key = Key::new("M#1", "A");
    let mut item = Item::default();
    item.set("pk", json!("M#1"));
    item.set("sk", json!("A"));
    item.set("n", json!(1));
    store.put(item.with_index(Index::ByOwner, "G", "x"), Some(Condition::NotExists)).await.unwrap();
    store.get(&key).await.unwrap();
    store.query(&Query::partition("M#1")).await.unwrap();
    store.query(&Query::on_index(Index::ByOwner, "G")).await.unwrap();
    store.update(&key, Update::new().add("n", 1), None).await.unwrap();
    store
        .transact(vec![
            TxOp::Check { key: key.clone(), condition: Condition::Exists },
            TxOp::Put { item: Item(serde_json::from_value(json!({"pk": "M#1", "sk": "B"})).unwrap()), condition: None },
        ])
        .await
        .unwrap();
    assert!(
        store
            .put(Item(serde_json::from_value(json!({"pk": "M#1", "sk": "B"})).unwrap()), Some(Condition::NotExists))
            .await
            .is_err()
    );
    store.delete(&key, None).await.unwrap();
    // Requests refused before sending are not counted.
    assert!(store.query(&Query::partition("M#1").limit(0)).await.is_err());
    let m = store.metrics();
    eprintln!("metrics after one of each: {m:?}");
    assert_eq!(
        (m.get_item, m.query, m.put_item, m.update_item, m.delete_item, m.transact_write_items),
        (1, 2, 2, 1, 1, 1)
    );
    assert_eq!(m.requests(), 8);
    // moto reports fixed placeholder units, but it reports some: the driver adds them up.
    assert!(m.read_capacity_units > 0.0 && m.write_capacity_units > 0.0, "{m:?}");
    // Clones share the counters.
    let clone = store.clone();
    clone.get(&key).await.unwrap();
    assert_eq!(store.metrics().since(&m).get_item, 1);
    store.reset_metrics();
    assert_eq!(store.metrics().requests(), 0);
}

/// Keys with `+` are stored as `+` (not as a space), and a presigned URL for such a key fetches
/// the object over plain HTTP.
#[tokio::test]
async fn plus_in_keys_survives_and_presigned_urls_fetch() {
    let client = s3_client();
    let bucket = fresh_bucket_name(&client).await;
    let store = S3BlobStore::new(client.clone(), bucket.clone(), Some("p".into()), PRESIGN_EXPIRY, true);
    let key = "crates/foo/foo-1.0.0+build.5.crate";
    let data = Bytes::from_static(b"crate bytes \x00\xff");
    assert_eq!(store.put_if_absent(key, data.clone(), "application/x-tar").await.unwrap(), PutOutcome::Created);

    let listed = client.list_objects_v2().bucket(&bucket).send().await.unwrap();
    let stored: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(stored, ["p/crates/foo/foo-1.0.0+build.5.crate"]);
    let head = client.head_object().bucket(&bucket).key("p/crates/foo/foo-1.0.0+build.5.crate").send().await.unwrap();
    assert_eq!(head.content_type(), Some("application/x-tar"));
    let spaced = client.head_object().bucket(&bucket).key("p/crates/foo/foo-1.0.0 build.5.crate").send().await;
    assert!(spaced.is_err(), "a key with a space found the object");

    let BlobLocation::Redirect(url) = store.location(key).await.unwrap() else { panic!("expected a redirect") };
    assert!(url.starts_with(&format!("{}/{bucket}/p/crates/foo/foo-1.0.0%2Bbuild.5.crate?", endpoint())), "{url}");
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(response.bytes().await.unwrap(), data);
}

/// DynamoDB's own validation errors map to `Invalid` (here: an item over 400 KB).
#[tokio::test]
async fn oversized_items_are_invalid() {
    let store = fresh_table().await;
    let mut map = serde_json::Map::new();
    map.insert("pk".into(), json!("BIG"));
    map.insert("sk".into(), json!("A"));
    map.insert("blob".into(), json!("x".repeat(401 * 1024)));
    let result = store.put(Item(map), None).await;
    assert!(matches!(result, Err(raktar_core::store::item::StoreError::Invalid(_))), "{result:?}");
    assert_eq!(store.get(&Key::new("BIG", "A")).await.unwrap(), None);
}

/// An update without actions inside a transaction only checks its condition.
///
/// (A single `update` without actions is an `UpdateItem` without `UpdateExpression`, which
/// DynamoDB answers by creating the absent item with its key; moto 5.2 fails it with a 500, so it
/// is not tested here.)
#[tokio::test]
async fn empty_updates_in_transactions() {
    let store = fresh_table().await;
    let key = Key::new("E#1", "A");
    store.put(Item(serde_json::from_value(json!({"pk": "E#1", "sk": "A"})).unwrap()), None).await.unwrap();

    let absent = Key::new("E#1", "B");
    let err = store
        .transact(vec![TxOp::Update { key: absent.clone(), update: Update::new(), condition: Some(Condition::Exists) }])
        .await
        .unwrap_err();
    assert!(err.failed_condition_at(0), "{err:?}");
    store
        .transact(vec![
            TxOp::Update { key: key.clone(), update: Update::new(), condition: Some(Condition::Exists) },
            TxOp::Check { key: absent.clone(), condition: Condition::All(vec![]) },
        ])
        .await
        .unwrap();
    assert_eq!(store.get(&absent).await.unwrap(), None);
}
