//! Raktar's AWS drivers: the DynamoDB [`ItemStore`](raktar_core::store::item::ItemStore)
//! ([`DynamoItemStore`]) and the S3 [`BlobStore`](raktar_core::store::blob::BlobStore)
//! ([`S3BlobStore`]). Both pass the shared conformance suites of `raktar_core::testkit`, run
//! against moto server (`bash .ci/with-moto cargo test -p raktar-aws`).
//!
//! Clients are built once by the entry point ([`clients`]) and handed to the drivers.

pub mod dynamodb;
pub mod s3;

pub use aws_sdk_dynamodb::Client as DynamoClient;
pub use aws_sdk_s3::Client as S3Client;
pub use dynamodb::{DynamoItemStore, DynamoMetrics, TableDefinition, create_table, table_definition};
pub use s3::S3BlobStore;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Builds the DynamoDB and S3 clients from one shared SDK configuration: the default credential
/// and region chains (environment, profile, container or instance role), optionally overridden by
/// an explicit `region` and an `endpoint_url` (an emulator, for tests and local runs).
/// `force_path_style` addresses buckets as `endpoint/bucket/key` (needed by emulators).
pub async fn clients(
    endpoint_url: Option<&str>,
    region: Option<&str>,
    force_path_style: bool,
) -> (DynamoClient, S3Client) {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(endpoint) = endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let config = loader.load().await;
    tracing::debug!(
        region = config.region().map(Region::as_ref),
        endpoint = endpoint_url,
        force_path_style,
        "built AWS SDK configuration"
    );
    clients_from_config(&config, force_path_style)
}

/// The DynamoDB and S3 clients of an existing SDK configuration.
pub fn clients_from_config(config: &SdkConfig, force_path_style: bool) -> (DynamoClient, S3Client) {
    let dynamo = DynamoClient::new(config);
    let s3_config = aws_sdk_s3::config::Builder::from(config).force_path_style(force_path_style).build();
    (dynamo, S3Client::from_conf(s3_config))
}
