//! The AWS side of the home (the `aws` feature): the SDK clients, the reachability check, and
//! creating the table and the bucket.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_s3::error::DisplayErrorContext;
use raktar_aws::{DynamoClient, DynamoItemStore, S3BlobStore, S3Client};
use raktar_core::store::{BlobStore, ItemStore};

use super::{AwsSettings, BlobHome, DEFAULT_PRESIGN_SECONDS, Home, HomeSettings, ItemHome, open_fs, open_sqlite};

/// The SDK clients of one process (built once).
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub dynamodb: DynamoClient,
    pub s3: S3Client,
}

impl AwsClients {
    /// Builds both clients from the default credential and region chains plus the overrides. An
    /// endpoint override (an emulator) implies path-style bucket addressing.
    pub async fn new(aws: &AwsSettings) -> Self {
        let endpoint = aws.endpoint_url.as_deref();
        let (dynamodb, s3) = raktar_aws::clients(endpoint, aws.region.as_deref(), endpoint.is_some()).await;
        Self { dynamodb, s3 }
    }
}

/// [`open_home`](super::open_home) of a home with a store on AWS: the clients once, shared by both
/// stores.
pub(super) async fn open_home(settings: &HomeSettings) -> anyhow::Result<Home> {
    let clients = AwsClients::new(&settings.aws).await;
    let mut dynamodb = None;
    let items: Arc<dyn ItemStore> = match &settings.items {
        ItemHome::Sqlite { path } => open_sqlite(path)?,
        ItemHome::Dynamodb { table } => {
            let store = DynamoItemStore::new(clients.dynamodb.clone(), table.clone());
            dynamodb = Some(store.clone());
            Arc::new(store)
        }
    };
    let blobs: Arc<dyn BlobStore> = match &settings.blobs {
        BlobHome::Fs { dir } => open_fs(dir),
        BlobHome::S3 { bucket, prefix, presign } => Arc::new(S3BlobStore::new(
            clients.s3.clone(),
            bucket.clone(),
            prefix.clone(),
            presign.unwrap_or(Duration::from_secs(DEFAULT_PRESIGN_SECONDS)),
            presign.is_some(),
        )),
    };
    Ok(Home { items, blobs, dynamodb, aws: Some(clients) })
}

/// Checks that the configured table and bucket exist and answer (one DescribeTable, one
/// HeadBucket), so `raktar serve` fails at start instead of on the first request.
pub async fn check_aws(settings: &HomeSettings) -> anyhow::Result<()> {
    if !settings.uses_aws() {
        return Ok(());
    }
    check_with(&AwsClients::new(&settings.aws).await, settings).await
}

pub(super) async fn check_with(clients: &AwsClients, settings: &HomeSettings) -> anyhow::Result<()> {
    if let ItemHome::Dynamodb { table } = &settings.items {
        clients.dynamodb.describe_table().table_name(table).send().await.map_err(|e| {
            anyhow::anyhow!(
                "DynamoDB table `{table}` is not reachable ({}); create it with `raktar aws create-table`",
                DisplayErrorContext(&e)
            )
        })?;
    }
    if let BlobHome::S3 { bucket, .. } = &settings.blobs {
        clients.s3.head_bucket().bucket(bucket).send().await.map_err(|e| {
            anyhow::anyhow!(
                "S3 bucket `{bucket}` is not reachable ({}); create it with `raktar aws create-bucket`",
                DisplayErrorContext(&e)
            )
        })?;
    }
    Ok(())
}

/// `raktar aws create-table`: creates the table from the one table definition
/// (`schema/dynamodb-table.json`), waits until it is active and enables TTL.
pub async fn create_table(aws: &AwsSettings, table: &str) -> anyhow::Result<()> {
    let clients = AwsClients::new(aws).await;
    raktar_aws::create_table(&clients.dynamodb, table)
        .await
        .with_context(|| format!("creating DynamoDB table `{table}`"))
}

/// `raktar aws create-bucket`: creates the bucket (in the configured region).
pub async fn create_bucket(aws: &AwsSettings, bucket: &str) -> anyhow::Result<()> {
    use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
    let clients = AwsClients::new(aws).await;
    let mut request = clients.s3.create_bucket().bucket(bucket);
    // us-east-1 is the default location and must not be named.
    let region = clients.s3.config().region().map(|r| r.as_ref().to_owned());
    if let Some(region) = region.filter(|r| r != "us-east-1") {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    request.send().await.map_err(|e| anyhow::anyhow!("creating S3 bucket `{bucket}`: {}", DisplayErrorContext(&e)))?;
    Ok(())
}
