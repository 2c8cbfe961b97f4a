//! The home: where the registry keeps its items and blobs.
//!
//! Each store is chosen on its own: items in SQLite (`sqlite`, the embedded default) or DynamoDB
//! (`dynamodb`), blobs in the data directory (`fs`) or S3 (`s3`). Settings come from flags and
//! `RAKTAR_*` variables ([`HomeArgs`], global on every subcommand), over the `[store]` table of the
//! configuration file ([`StoreFile`]), over defaults; [`resolve`] combines them into
//! [`HomeSettings`] and [`open_home`] opens the stores: the one place where `raktar serve`, the admin
//! commands and the Lambda handler get their `(ItemStore, BlobStore)` pair. The AWS SDK clients are
//! built there, once per process.
//!
//! DynamoDB and S3 need the `aws` cargo feature (a default feature; `home/aws.rs`). A build
//! without it (`cargo build -p raktar --no-default-features`, the embedded build) does not link
//! the AWS SDK and refuses the `dynamodb` and `s3` stores when the home is resolved.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
#[cfg(feature = "aws")]
use raktar_aws::DynamoItemStore;
use raktar_core::store::{BlobStore, ItemStore};
use raktar_store::{FsBlobStore, SqliteItemStore};
use serde::Deserialize;

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "aws")]
pub use aws::{AwsClients, check_aws, create_bucket, create_table};

/// Default lifetime of a presigned download URL.
pub const DEFAULT_PRESIGN_SECONDS: u64 = 300;
/// S3 accepts presigned URLs valid for at most 7 days.
pub const MAX_PRESIGN_SECONDS: u64 = 7 * 24 * 3600;

/// Where items live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemStoreKind {
    /// SQLite file `raktar.db` in the data directory.
    Sqlite,
    /// One DynamoDB table.
    Dynamodb,
}

/// Where blobs (`.crate` files, large READMEs) live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobStoreKind {
    /// Files under `blobs/` in the data directory.
    Fs,
    /// One S3 bucket (optionally under a key prefix).
    S3,
}

/// Home flags and variables (global: they work with every subcommand).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Home (where items and blobs live)")]
pub struct HomeArgs {
    /// Item store: sqlite (default) or dynamodb.
    #[arg(long, global = true, env = "RAKTAR_ITEM_STORE", value_enum)]
    pub item_store: Option<ItemStoreKind>,
    /// Blob store: fs (default) or s3.
    #[arg(long, global = true, env = "RAKTAR_BLOB_STORE", value_enum)]
    pub blob_store: Option<BlobStoreKind>,
    /// DynamoDB table name (item store dynamodb).
    #[arg(long, global = true, env = "RAKTAR_DYNAMODB_TABLE")]
    pub dynamodb_table: Option<String>,
    /// S3 bucket name (blob store s3).
    #[arg(long, global = true, env = "RAKTAR_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// Key prefix of the blobs in the bucket (e.g. `raktar`).
    #[arg(long, global = true, env = "RAKTAR_S3_PREFIX")]
    pub s3_prefix: Option<String>,
    /// AWS endpoint override for both services (testing against an emulator; implies path-style
    /// S3 addressing).
    #[arg(long, global = true, env = "RAKTAR_AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// AWS region (default: the SDK's region chain, e.g. AWS_REGION).
    #[arg(long, global = true, env = "RAKTAR_AWS_REGION")]
    pub aws_region: Option<String>,
    /// Lifetime of presigned download URLs in seconds (default 300, at most 7 days).
    #[arg(long, global = true, env = "RAKTAR_PRESIGN_SECONDS")]
    pub presign_seconds: Option<u64>,
    /// Answer downloads from S3 with a redirect to a presigned URL (default); `--presign=false`
    /// streams them through the server instead.
    #[arg(long, global = true, env = "RAKTAR_PRESIGN", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub presign: Option<bool>,
}

/// The `[store]` table of the configuration file (every key optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFile {
    pub item_store: Option<ItemStoreKind>,
    pub blob_store: Option<BlobStoreKind>,
    pub dynamodb_table: Option<String>,
    pub s3_bucket: Option<String>,
    pub s3_prefix: Option<String>,
    pub aws_endpoint_url: Option<String>,
    pub aws_region: Option<String>,
    pub presign_seconds: Option<u64>,
    pub presign: Option<bool>,
}

/// The resolved item store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemHome {
    Sqlite { path: PathBuf },
    Dynamodb { table: String },
}

/// The resolved blob store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobHome {
    Fs {
        dir: PathBuf,
    },
    /// `presign`: the lifetime of presigned download URLs, `None` to stream downloads.
    S3 {
        bucket: String,
        prefix: Option<String>,
        presign: Option<Duration>,
    },
}

/// How to reach AWS (only used when a store is on AWS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
}

/// The resolved home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeSettings {
    pub items: ItemHome,
    pub blobs: BlobHome,
    pub aws: AwsSettings,
}

impl HomeSettings {
    /// Whether any store is on AWS.
    pub fn uses_aws(&self) -> bool {
        matches!(self.items, ItemHome::Dynamodb { .. }) || matches!(self.blobs, BlobHome::S3 { .. })
    }

    /// One line for logs and the startup banner.
    pub fn describe(&self) -> String {
        let items = match &self.items {
            ItemHome::Sqlite { path } => format!("items in SQLite {}", path.display()),
            ItemHome::Dynamodb { table } => format!("items in DynamoDB table {table}"),
        };
        let blobs = match &self.blobs {
            BlobHome::Fs { dir } => format!("blobs in {}", dir.display()),
            BlobHome::S3 { bucket, prefix, presign } => {
                let place = match prefix {
                    Some(p) => format!("s3://{bucket}/{p}/"),
                    None => format!("s3://{bucket}/"),
                };
                match presign {
                    Some(d) => format!("blobs in {place} (downloads redirect to URLs presigned for {}s)", d.as_secs()),
                    None => format!("blobs in {place} (downloads streamed)"),
                }
            }
        };
        format!("{items}; {blobs}")
    }
}

/// Where the process runs: some stores make no sense on Lambda (no persistent disk; responses
/// are capped at 6 MB, so downloads must not pass through the function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Process,
    Lambda,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// Combines flags/variables over the `[store]` table over defaults. On Lambda the defaults are
/// DynamoDB and S3, and the embedded stores and streamed downloads are refused.
pub fn resolve(
    args: HomeArgs,
    file: Option<&StoreFile>,
    data_dir: &Path,
    platform: Platform,
) -> anyhow::Result<HomeSettings> {
    let file = file.cloned().unwrap_or_default();
    let aws = aws_settings(&args, Some(&file))?;
    let on_lambda = platform == Platform::Lambda;
    let item_kind = args.item_store.or(file.item_store).unwrap_or(if on_lambda {
        ItemStoreKind::Dynamodb
    } else {
        ItemStoreKind::Sqlite
    });
    let blob_kind =
        args.blob_store.or(file.blob_store).unwrap_or(if on_lambda { BlobStoreKind::S3 } else { BlobStoreKind::Fs });

    let items = match item_kind {
        ItemStoreKind::Sqlite => {
            if on_lambda {
                bail!("the item store `sqlite` cannot run on AWS Lambda (no persistent disk): use dynamodb");
            }
            ItemHome::Sqlite { path: data_dir.join("raktar.db") }
        }
        ItemStoreKind::Dynamodb => {
            let Some(table) = non_empty(args.dynamodb_table.or(file.dynamodb_table)) else {
                bail!(
                    "the item store `dynamodb` needs a table name: set RAKTAR_DYNAMODB_TABLE, --dynamodb-table \
                     or `dynamodb_table` in [store]"
                );
            };
            ItemHome::Dynamodb { table }
        }
    };

    let presign_seconds = args.presign_seconds.or(file.presign_seconds).unwrap_or(DEFAULT_PRESIGN_SECONDS);
    if presign_seconds == 0 || presign_seconds > MAX_PRESIGN_SECONDS {
        bail!("the presigned URL lifetime must be between 1 and {MAX_PRESIGN_SECONDS} seconds, got {presign_seconds}");
    }
    let presign = args.presign.or(file.presign).unwrap_or(true);
    let blobs = match blob_kind {
        BlobStoreKind::Fs => {
            if on_lambda {
                bail!("the blob store `fs` cannot run on AWS Lambda (no persistent disk): use s3");
            }
            BlobHome::Fs { dir: data_dir.join("blobs") }
        }
        BlobStoreKind::S3 => {
            let Some(bucket) = non_empty(args.s3_bucket.or(file.s3_bucket)) else {
                bail!(
                    "the blob store `s3` needs a bucket: set RAKTAR_S3_BUCKET, --s3-bucket or `s3_bucket` in [store]"
                );
            };
            if on_lambda && !presign {
                bail!(
                    "downloads cannot be streamed through AWS Lambda (6 MB response limit): leave presigning on \
                     (RAKTAR_PRESIGN=true)"
                );
            }
            let prefix = non_empty(args.s3_prefix.or(file.s3_prefix))
                .map(|p| p.trim_matches('/').to_owned())
                .filter(|p| !p.is_empty());
            BlobHome::S3 { bucket, prefix, presign: presign.then(|| Duration::from_secs(presign_seconds)) }
        }
    };

    let settings = HomeSettings { items, blobs, aws };
    if !cfg!(feature = "aws") && settings.uses_aws() {
        bail!(
            "this raktar was built without AWS support (the `aws` cargo feature): the item store `dynamodb` and \
             the blob store `s3` are not available"
        );
    }
    Ok(settings)
}

/// Without the `aws` feature no home uses AWS ([`resolve`] refuses it): nothing to check.
#[cfg(not(feature = "aws"))]
pub async fn check_aws(settings: &HomeSettings) -> anyhow::Result<()> {
    if settings.uses_aws() {
        bail!("this raktar was built without AWS support (the `aws` cargo feature)");
    }
    Ok(())
}

/// The endpoint and region overrides alone (for the `raktar aws` commands).
pub fn aws_settings(args: &HomeArgs, file: Option<&StoreFile>) -> anyhow::Result<AwsSettings> {
    let endpoint_url =
        non_empty(args.aws_endpoint_url.clone().or_else(|| file.and_then(|f| f.aws_endpoint_url.clone())));
    if let Some(url) = &endpoint_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        bail!("invalid AWS endpoint URL `{url}`: it must start with http:// or https://");
    }
    let region = non_empty(args.aws_region.clone().or_else(|| file.and_then(|f| f.aws_region.clone())));
    Ok(AwsSettings { endpoint_url, region })
}

/// The opened stores.
#[derive(Clone)]
pub struct Home {
    pub items: Arc<dyn ItemStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// The DynamoDB store when items live there (request metrics).
    #[cfg(feature = "aws")]
    pub dynamodb: Option<DynamoItemStore>,
    /// The SDK clients when a store is on AWS (built once, shared by both stores).
    #[cfg(feature = "aws")]
    pub aws: Option<AwsClients>,
}

impl Home {
    /// [`check_aws`] with the clients of this home.
    pub async fn check(&self, settings: &HomeSettings) -> anyhow::Result<()> {
        #[cfg(feature = "aws")]
        if let Some(clients) = &self.aws {
            return aws::check_with(clients, settings).await;
        }
        check_aws_free(settings)
    }
}

/// A home without AWS clients must not use AWS.
fn check_aws_free(settings: &HomeSettings) -> anyhow::Result<()> {
    if settings.uses_aws() {
        bail!("internal error: no AWS clients for an AWS home");
    }
    Ok(())
}

/// Opens the configured stores (the embedded ones create their files and directories).
/// Nothing is sent to AWS here: a missing table or bucket shows on first use, or through
/// [`check_aws`].
pub async fn open_home(settings: &HomeSettings) -> anyhow::Result<Home> {
    #[cfg(feature = "aws")]
    if settings.uses_aws() {
        return aws::open_home(settings).await;
    }
    check_aws_free(settings)?;
    let (ItemHome::Sqlite { path }, BlobHome::Fs { dir }) = (&settings.items, &settings.blobs) else {
        bail!("internal error: an AWS store in a home without AWS");
    };
    Ok(Home {
        items: open_sqlite(path)?,
        blobs: open_fs(dir),
        #[cfg(feature = "aws")]
        dynamodb: None,
        #[cfg(feature = "aws")]
        aws: None,
    })
}

/// The embedded item store (creates its directory and file).
fn open_sqlite(path: &Path) -> anyhow::Result<Arc<dyn ItemStore>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
    }
    let store =
        SqliteItemStore::open(path).with_context(|| format!("opening the embedded store {}", path.display()))?;
    Ok(Arc::new(store))
}

/// The embedded blob store.
fn open_fs(dir: &Path) -> Arc<dyn BlobStore> {
    Arc::new(FsBlobStore::new(dir.to_path_buf()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn dir() -> PathBuf {
        PathBuf::from("/srv/raktar")
    }

    #[test]
    fn embedded_by_default() {
        let s = resolve(HomeArgs::default(), None, &dir(), Platform::Process).unwrap();
        assert_eq!(s.items, ItemHome::Sqlite { path: dir().join("raktar.db") });
        assert_eq!(s.blobs, BlobHome::Fs { dir: dir().join("blobs") });
        assert!(!s.uses_aws());
    }

    #[test]
    fn aws_from_the_file_with_flag_overrides() {
        let file = StoreFile {
            item_store: Some(ItemStoreKind::Dynamodb),
            blob_store: Some(BlobStoreKind::S3),
            dynamodb_table: Some("from-file".into()),
            s3_bucket: Some("bucket".into()),
            s3_prefix: Some("/crates/".into()),
            ..Default::default()
        };
        let args = HomeArgs { dynamodb_table: Some("from-flag".into()), ..Default::default() };
        let s = resolve(args, Some(&file), &dir(), Platform::Process).unwrap();
        assert_eq!(s.items, ItemHome::Dynamodb { table: "from-flag".into() });
        assert_eq!(
            s.blobs,
            BlobHome::S3 {
                bucket: "bucket".into(),
                prefix: Some("crates".into()),
                presign: Some(Duration::from_secs(DEFAULT_PRESIGN_SECONDS))
            }
        );
        let args = HomeArgs { presign: Some(false), ..Default::default() };
        let s = resolve(args, Some(&file), &dir(), Platform::Process).unwrap();
        assert!(matches!(s.blobs, BlobHome::S3 { presign: None, .. }));
    }

    #[test]
    fn missing_names_and_bad_values_are_errors() {
        let args = HomeArgs { item_store: Some(ItemStoreKind::Dynamodb), ..Default::default() };
        let e = resolve(args, None, &dir(), Platform::Process).unwrap_err().to_string();
        assert!(e.contains("RAKTAR_DYNAMODB_TABLE"), "{e}");
        let args = HomeArgs { blob_store: Some(BlobStoreKind::S3), s3_bucket: Some(" ".into()), ..Default::default() };
        let e = resolve(args, None, &dir(), Platform::Process).unwrap_err().to_string();
        assert!(e.contains("RAKTAR_S3_BUCKET"), "{e}");
        let args = HomeArgs { presign_seconds: Some(0), ..Default::default() };
        assert!(resolve(args, None, &dir(), Platform::Process).is_err());
        let args = HomeArgs { aws_endpoint_url: Some("localhost:4566".into()), ..Default::default() };
        assert!(resolve(args, None, &dir(), Platform::Process).is_err());
    }

    #[test]
    fn lambda_defaults_to_aws_and_refuses_local_stores() {
        let args = HomeArgs { dynamodb_table: Some("t".into()), s3_bucket: Some("b".into()), ..Default::default() };
        let s = resolve(args.clone(), None, &dir(), Platform::Lambda).unwrap();
        assert_eq!(s.items, ItemHome::Dynamodb { table: "t".into() });
        assert!(matches!(s.blobs, BlobHome::S3 { presign: Some(_), .. }));
        let sqlite = HomeArgs { item_store: Some(ItemStoreKind::Sqlite), ..args.clone() };
        assert!(resolve(sqlite, None, &dir(), Platform::Lambda).is_err());
        let fs = HomeArgs { blob_store: Some(BlobStoreKind::Fs), ..args.clone() };
        assert!(resolve(fs, None, &dir(), Platform::Lambda).is_err());
        let streamed = HomeArgs { presign: Some(false), ..args };
        assert!(resolve(streamed, None, &dir(), Platform::Lambda).is_err());
    }

    #[test]
    fn store_table_rejects_unknown_keys() {
        let ok: StoreFile = toml::from_str("item_store = \"dynamodb\"\npresign_seconds = 60\n").unwrap();
        assert_eq!(ok.item_store, Some(ItemStoreKind::Dynamodb));
        assert!(toml::from_str::<StoreFile>("bucket = \"x\"\n").is_err());
        assert!(toml::from_str::<StoreFile>("item_store = \"postgres\"\n").is_err());
    }
}
