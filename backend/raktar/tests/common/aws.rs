//! The AWS home in tests: moto server (DynamoDB + S3) from `bash .ci/with-moto`, which exports
//! `RAKTAR_TEST_AWS_ENDPOINT`. Every test on this home fails (never passes silently) without it.
//!
//! `RAKTAR_TEST_HOME=aws` makes [`TestServer`](super::TestServer) run on a fresh DynamoDB table and
//! S3 bucket (random names) instead of a data directory.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::process::Command;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};

use super::sha256_hex;

pub const REGION: &str = "us-east-1";
/// Object key prefix of the blobs on the test bucket (exercises prefixed keys).
pub const S3_PREFIX: &str = "raktar";

/// Whether `RAKTAR_TEST_HOME=aws` asks for the AWS home.
pub fn aws_home_requested() -> bool {
    match std::env::var("RAKTAR_TEST_HOME") {
        Ok(v) if v == "aws" => true,
        Ok(v) if v.is_empty() || v == "embedded" => false,
        Ok(v) => panic!("RAKTAR_TEST_HOME must be `aws` or `embedded` (or unset), got {v:?}"),
        Err(_) => false,
    }
}

/// The moto endpoint, or a failure that says how to run the test.
pub fn endpoint() -> String {
    match std::env::var("RAKTAR_TEST_AWS_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => endpoint.trim().trim_end_matches('/').to_string(),
        _ => panic!(
            "RAKTAR_TEST_AWS_ENDPOINT is not set: this test needs a moto server (DynamoDB + S3). Run it with \
             `bash .ci/with-moto cargo test -p raktar --test <name>` (or `bash .ci/test-aws`), which installs \
             moto into .venv, starts it and sets the variable."
        ),
    }
}

/// A unique lowercase name, valid as a table and a bucket name.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

fn credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "raktar-test")
}

pub fn dynamo_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials())
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// One AWS home on moto: a table and a bucket of a test server.
#[derive(Debug, Clone)]
pub struct AwsHome {
    pub endpoint: String,
    pub table: String,
    pub bucket: String,
}

impl AwsHome {
    /// Fresh names (nothing created yet).
    pub fn fresh() -> Self {
        AwsHome { endpoint: endpoint(), table: unique("raktar-e2e"), bucket: unique("raktar-e2e") }
    }

    /// Points a `raktar` command at this home (the command has no `RAKTAR_*` variables yet) with
    /// fixed fake credentials: nothing can reach AWS.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("RAKTAR_ITEM_STORE", "dynamodb")
            .env("RAKTAR_BLOB_STORE", "s3")
            .env("RAKTAR_DYNAMODB_TABLE", &self.table)
            .env("RAKTAR_S3_BUCKET", &self.bucket)
            .env("RAKTAR_S3_PREFIX", S3_PREFIX)
            .env("RAKTAR_AWS_ENDPOINT_URL", &self.endpoint)
            .env("RAKTAR_AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env("AWS_EC2_METADATA_DISABLED", "true");
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
    }

    /// Every object under the blob prefix: blob key -> bytes.
    pub fn blobs(&self) -> BTreeMap<String, Vec<u8>> {
        Self::runtime().block_on(async {
            let client = s3_client(&self.endpoint);
            let prefix = format!("{S3_PREFIX}/");
            let mut out = BTreeMap::new();
            let mut pages = client.list_objects_v2().bucket(&self.bucket).prefix(&prefix).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.unwrap_or_else(|e| panic!("listing s3://{}: {e:?}", self.bucket));
                for object in page.contents() {
                    let key = object.key().expect("object key").to_string();
                    let body = client
                        .get_object()
                        .bucket(&self.bucket)
                        .key(&key)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("reading s3://{}/{key}: {e:?}", self.bucket))
                        .body
                        .collect()
                        .await
                        .expect("object body")
                        .into_bytes()
                        .to_vec();
                    out.insert(key.strip_prefix(&prefix).unwrap_or(&key).to_string(), body);
                }
            }
            out
        })
    }

    /// Every blob key -> sha256 of its bytes.
    pub fn blob_sums(&self) -> BTreeMap<String, String> {
        self.blobs().into_iter().map(|(k, v)| (k, sha256_hex(&v))).collect()
    }

    /// Every item of the table (consistent scan) as `(pk, sk, item JSON with sorted keys)`,
    /// ordered by `(pk, sk)`.
    pub fn items(&self) -> Vec<(String, String, String)> {
        Self::runtime().block_on(async {
            let client = dynamo_client(&self.endpoint);
            let mut out = Vec::new();
            let mut pages = client.scan().table_name(&self.table).consistent_read(true).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.unwrap_or_else(|e| panic!("scanning table {}: {e:?}", self.table));
                for item in page.items() {
                    // Ordered by attribute name, so the text is stable.
                    let mut map = BTreeMap::new();
                    for (k, v) in item {
                        let value = raktar_aws::dynamodb::from_attribute_value(v.clone())
                            .unwrap_or_else(|e| panic!("attribute {k}: {e}"));
                        map.insert(k.clone(), value);
                    }
                    let text = |k: &str| map.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
                    let (pk, sk) = (text("pk"), text("sk"));
                    out.push((pk, sk, serde_json::to_string(&map).expect("item JSON")));
                }
            }
            out.sort();
            out
        })
    }
}
