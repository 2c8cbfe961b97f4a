//! `ItemStore::scan` on the DynamoDB driver, against moto server. The checks
//! (`raktar_core::testkit::scan`) are shared with the SQLite driver.
//!
//! Needs `RAKTAR_TEST_AWS_ENDPOINT`: run with `bash .ci/with-moto cargo test -p raktar-aws`.
//! Without it every test here fails (never passes silently).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use raktar_aws::{DynamoItemStore, create_table};
use raktar_core::store::item::ItemStore;

fn endpoint() -> String {
    match std::env::var("RAKTAR_TEST_AWS_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint,
        _ => panic!(
            "RAKTAR_TEST_AWS_ENDPOINT is not set: the DynamoDB scan tests need a moto server. \
             Run them with `bash .ci/with-moto cargo test -p raktar-aws`."
        ),
    }
}

async fn fresh() -> Arc<dyn ItemStore> {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new("test", "test", None, None, "raktar-test"))
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let table = format!("raktar-scan-{:016x}", rand::random::<u64>());
    create_table(&client, &table).await.unwrap();
    Arc::new(DynamoItemStore::new(client, table))
}

raktar_core::scan_checks!(fresh().await);
