//! The S3 [`BlobStore`]: blobs as objects of one bucket, optionally under a key prefix.
//!
//! # Keys
//! Every operation first checks the key with [`validate_key`]. A blob key `a/b.crate` is the object
//! key `a/b.crate`, or `{prefix}/a/b.crate` with a prefix (leading and trailing `/` of the
//! configured prefix are dropped). Valid keys hold only `[A-Za-z0-9._+-]` and `/`, so they need no
//! escaping of their own; the SDK percent-encodes the object key in the request path, which turns
//! `+` (semver build metadata) into `%2B`. That matters: S3 may decode a literal `+` in a path as
//! a space (legacy form-encoding behaviour), while `%2B` is always `+`. Presigned URLs carry the
//! same `%2B` and are signed over it.
//!
//! # Writes
//! `put_if_absent` is one `PutObject` with `If-None-Match: *`: S3 stores the object only when none
//! exists under the key, atomically (readers see no object or the whole object). `412
//! PreconditionFailed` means another blob is there ([`PutOutcome::AlreadyExists`]); `409
//! ConditionalRequestConflict` (a concurrent conditional write of the same key still in flight) is
//! retried a few times with a short backoff, after which the outcome is decided by the retry's
//! answer (412 or 200).
//!
//! # Reads and locations
//! `get` streams the `GetObject` body chunk by chunk (never buffering the whole object); a missing
//! object (`NoSuchKey`, 404) is `None`. `exists` is a `HeadObject`. `list` pages through
//! `ListObjectsV2` and returns keys relative to the store's prefix. `location` is a
//! [`BlobLocation::Redirect`] to a presigned `GetObject` URL valid for the configured expiry (SigV4
//! query signing; at most 7 days) when presigning is on, else [`BlobLocation::Local`] (the server
//! streams the blob itself).
//!
//! # Permissions
//! The role needs `s3:GetObject`, `s3:PutObject`, `s3:DeleteObject` on the objects and
//! `s3:ListBucket` on the bucket. Without `s3:ListBucket`, S3 answers a missing object with `403`
//! instead of `404`, and `get`/`exists` would report an error instead of "absent". A presigned URL
//! carries the signer's permissions, so the server's role must be able to read the object.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use raktar_core::store::blob::{Blob, BlobError, BlobLocation, BlobStore, PutOutcome, validate_key, validate_prefix};

/// Retries of a put answered with `409 ConditionalRequestConflict`.
const CONFLICT_RETRIES: u32 = 8;
/// First backoff after a conflict (doubled per retry).
const CONFLICT_BACKOFF: Duration = Duration::from_millis(25);

/// The S3 [`BlobStore`] on one bucket.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
    /// Without leading or trailing `/`; `None` when empty.
    prefix: Option<String>,
    presign_expiry: Duration,
    presign: bool,
}

impl S3BlobStore {
    /// A store on `bucket`, with object keys under `prefix` when given. `location` answers with
    /// URLs presigned for `presign_expiry` when `presign` is true, else `Local`.
    pub fn new(
        client: Client,
        bucket: String,
        prefix: Option<String>,
        presign_expiry: Duration,
        presign: bool,
    ) -> Self {
        let prefix = prefix.map(|p| p.trim_matches('/').to_owned()).filter(|p| !p.is_empty());
        Self { client, bucket, prefix, presign_expiry, presign }
    }

    /// The object key of a blob key.
    fn object_key(&self, key: &str) -> String {
        match &self.prefix {
            Some(prefix) => format!("{prefix}/{key}"),
            None => key.to_owned(),
        }
    }

    /// The blob key of an object key (`None` for objects outside the prefix).
    fn blob_key<'a>(&self, object_key: &'a str) -> Option<&'a str> {
        match &self.prefix {
            Some(prefix) => object_key.strip_prefix(prefix.as_str())?.strip_prefix('/'),
            None => Some(object_key),
        }
    }

    /// A presigned `GetObject` URL for a (validated) key, valid from `start` (default: now).
    async fn presigned_url(&self, key: &str, start: Option<SystemTime>) -> Result<String, BlobError> {
        let mut config = PresigningConfig::builder().expires_in(self.presign_expiry);
        if let Some(start) = start {
            config = config.start_time(start);
        }
        let config = config.build().map_err(|e| BlobError::backend_source(format!("presigning {key}"), e))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .presigned(config)
            .await
            .map_err(|e| backend("presigning GetObject", key, e))?;
        Ok(request.uri().to_owned())
    }

    async fn put_once(&self, key: &str, data: &Bytes, content_type: &str) -> Result<PutOutcome, PutError> {
        let len = i64::try_from(data.len()).map_err(|_| PutError::Other(BlobError::backend("blob too large")))?;
        let result = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .if_none_match("*")
            .content_type(content_type)
            .content_length(len)
            .body(ByteStream::from(data.clone()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) => match (status(&e), e.code()) {
                (Some(412), _) | (_, Some("PreconditionFailed")) => Ok(PutOutcome::AlreadyExists),
                (Some(409), _) | (_, Some("ConditionalRequestConflict")) => Err(PutError::Conflict),
                _ => Err(PutError::Other(backend("PutObject", key, e))),
            },
        }
    }
}

enum PutError {
    /// `409 ConditionalRequestConflict`: retry.
    Conflict,
    Other(BlobError),
}

/// The HTTP status of a service error response.
fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

fn backend<E>(op: &str, key: &str, err: E) -> BlobError
where
    E: std::error::Error + Send + Sync + 'static,
{
    tracing::warn!(op, key, error = %DisplayErrorContext(&err), "S3 request failed");
    BlobError::backend_source(format!("S3 {op} {key}"), err)
}

impl S3BlobStore {
    /// Every blob key under a prefix with its `LastModified` time (now when S3 gives none).
    async fn list_objects(&self, prefix: &str) -> Result<Vec<(String, SystemTime)>, BlobError> {
        validate_prefix(prefix)?;
        let object_prefix = self.object_key(prefix);
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&object_prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| backend("ListObjectsV2", prefix, e))?;
            for object in out.contents() {
                let Some(object_key) = object.key() else { continue };
                match self.blob_key(object_key) {
                    Some(key) if validate_key(key).is_ok() => {
                        let modified = object
                            .last_modified()
                            .and_then(|t| SystemTime::try_from(*t).ok())
                            .unwrap_or_else(SystemTime::now);
                        keys.push((key.to_owned(), modified));
                    }
                    _ => tracing::debug!(bucket = %self.bucket, object_key, "skipping object that is not a blob key"),
                }
            }
            token = out.next_continuation_token().map(str::to_owned);
            if token.is_none() || out.is_truncated() != Some(true) {
                return Ok(keys);
            }
        }
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn put_if_absent(&self, key: &str, data: Bytes, content_type: &str) -> Result<PutOutcome, BlobError> {
        validate_key(key)?;
        let mut backoff = CONFLICT_BACKOFF;
        for attempt in 0..=CONFLICT_RETRIES {
            match self.put_once(key, &data, content_type).await {
                Ok(outcome) => {
                    tracing::debug!(bucket = %self.bucket, key, ?outcome, "S3 put if absent");
                    return Ok(outcome);
                }
                Err(PutError::Conflict) => {
                    tracing::debug!(bucket = %self.bucket, key, attempt, "S3 conditional put conflict; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                }
                Err(PutError::Other(e)) => return Err(e),
            }
        }
        Err(BlobError::backend(format!("S3 PutObject {key}: conditional write conflict persisted after retries")))
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>, BlobError> {
        validate_key(key)?;
        let out = match self.client.get_object().bucket(&self.bucket).key(self.object_key(key)).send().await {
            Ok(out) => out,
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) || status(&e) == Some(404) => {
                return Ok(None);
            }
            Err(e) => return Err(backend("GetObject", key, e)),
        };
        let len = out.content_length().and_then(|l| u64::try_from(l).ok()).unwrap_or(0);
        let key = key.to_owned();
        let body = futures::stream::try_unfold(out.body, move |mut body| {
            let key = key.clone();
            async move {
                match body.try_next().await {
                    Ok(Some(chunk)) => Ok(Some((chunk, body))),
                    Ok(None) => Ok(None),
                    Err(e) => Err(BlobError::io_source(format!("reading S3 object {key}"), e)),
                }
            }
        });
        Ok(Some(Blob { len, body: Box::pin(body) }))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        validate_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.object_key(key))
            .send()
            .await
            .map_err(|e| backend("DeleteObject", key, e))?;
        Ok(())
    }

    async fn exists(&self, key: &str) -> Result<bool, BlobError> {
        validate_key(key)?;
        match self.client.head_object().bucket(&self.bucket).key(self.object_key(key)).send().await {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.as_service_error(), Some(HeadObjectError::NotFound(_))) || status(&e) == Some(404) => {
                Ok(false)
            }
            Err(e) => Err(backend("HeadObject", key, e)),
        }
    }

    async fn location(&self, key: &str) -> Result<BlobLocation, BlobError> {
        validate_key(key)?;
        if !self.presign {
            return Ok(BlobLocation::Local);
        }
        self.presigned_url(key, None).await.map(BlobLocation::Redirect)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, BlobError> {
        Ok(self.list_objects(prefix).await?.into_iter().map(|(key, _)| key).collect())
    }

    async fn list_modified(&self, prefix: &str) -> Result<Vec<(String, SystemTime)>, BlobError> {
        self.list_objects(prefix).await
    }

    fn describe(&self) -> String {
        match &self.prefix {
            Some(prefix) => format!("s3://{}/{prefix}/", self.bucket),
            None => format!("s3://{}/", self.bucket),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::UNIX_EPOCH;

    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    use sha2::{Digest, Sha256};

    use super::*;

    const ACCESS_KEY: &str = "AKIDEXAMPLE";
    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// A client that never sends anything (presigning is local).
    fn client(region: &str, endpoint: Option<&str>, path_style: bool) -> Client {
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "unit-test"))
            .force_path_style(path_style);
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        let config = config.build();
        Client::from_conf(config)
    }

    fn sha256_hex(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let mut inner = Sha256::new();
        inner.update(block.map(|b| b ^ 0x36));
        inner.update(message);
        let mut outer = Sha256::new();
        outer.update(block.map(|b| b ^ 0x5c));
        outer.update(inner.finalize());
        outer.finalize().to_vec()
    }

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    /// SigV4 URI encoding (RFC 3986 unreserved characters stay).
    fn uri_encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }

    struct Url {
        scheme: String,
        host: String,
        path: String,
        query: BTreeMap<String, String>,
    }

    fn parse(url: &str) -> Url {
        let (scheme, rest) = url.split_once("://").unwrap();
        let (authority, rest) = rest.split_once('/').unwrap();
        let (path, query) = rest.split_once('?').unwrap();
        let query = query
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        Url { scheme: scheme.into(), host: authority.into(), path: format!("/{path}"), query }
    }

    /// Recomputes the SigV4 query signature of a presigned GET from its URL alone.
    fn expected_signature(url: &Url, region: &str) -> String {
        let canonical_query: Vec<String> = url
            .query
            .iter()
            .filter(|(k, _)| k.as_str() != "X-Amz-Signature")
            .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
            .collect();
        let canonical_request =
            format!("GET\n{}\n{}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD", url.path, canonical_query.join("&"), url.host);
        let amz_date = &url.query["X-Amz-Date"];
        let date = &amz_date[..8];
        let scope = format!("{date}/{region}/s3/aws4_request");
        let string_to_sign =
            format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes()));
        let mut key = hmac(format!("AWS4{SECRET_KEY}").as_bytes(), date.as_bytes());
        for part in [region, "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        hex::encode(hmac(&key, string_to_sign.as_bytes()))
    }

    #[tokio::test]
    async fn presigned_urls_are_signed_for_the_configured_expiry() {
        let store = S3BlobStore::new(
            client("eu-west-1", None, false),
            "my-bucket".into(),
            Some("/registry/".into()),
            Duration::from_secs(300),
            true,
        );
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let raw = store.presigned_url("crates/foo/foo-1.0.0+build.5.crate", Some(start)).await.unwrap();
        let url = parse(&raw);
        assert_eq!(url.scheme, "https");
        assert_eq!(url.host, "my-bucket.s3.eu-west-1.amazonaws.com");
        assert_eq!(url.path, "/registry/crates/foo/foo-1.0.0%2Bbuild.5.crate", "{raw}");
        assert!(!raw.contains('+'), "a raw + in {raw}");
        assert_eq!(url.query["X-Amz-Algorithm"], "AWS4-HMAC-SHA256");
        assert_eq!(url.query["X-Amz-Expires"], "300");
        assert_eq!(url.query["X-Amz-Date"], "20231114T221320Z");
        assert_eq!(url.query["X-Amz-Credential"], format!("{ACCESS_KEY}/20231114/eu-west-1/s3/aws4_request"));
        assert_eq!(url.query["X-Amz-SignedHeaders"], "host");
        assert!(!url.query.contains_key("X-Amz-Security-Token"));
        let signature = &url.query["X-Amz-Signature"];
        assert_eq!(signature.len(), 64);
        assert_eq!(signature, &expected_signature(&url, "eu-west-1"), "signature of {raw}");
    }

    #[tokio::test]
    async fn presigned_urls_follow_the_endpoint_and_path_style() {
        let store = S3BlobStore::new(
            client("us-east-1", Some("http://127.0.0.1:5000"), true),
            "bucket".into(),
            None,
            Duration::from_secs(60),
            true,
        );
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let raw = store.presigned_url("a/b+c.crate", Some(start)).await.unwrap();
        let url = parse(&raw);
        assert_eq!((url.scheme.as_str(), url.host.as_str()), ("http", "127.0.0.1:5000"));
        assert_eq!(url.path, "/bucket/a/b%2Bc.crate");
        assert_eq!(url.query["X-Amz-Expires"], "60");
        assert!(url.query["X-Amz-Credential"].ends_with("/us-east-1/s3/aws4_request"));
        assert_eq!(url.query["X-Amz-Signature"], expected_signature(&url, "us-east-1"));

        // Through the port: a redirect with the configured expiry; invalid keys never get a URL.
        let BlobLocation::Redirect(now) = store.location("a/b+c.crate").await.unwrap() else {
            panic!("not a redirect")
        };
        assert_eq!(parse(&now).query["X-Amz-Expires"], "60");
        assert!(matches!(store.location("../x").await, Err(BlobError::InvalidKey(_))));
    }

    #[tokio::test]
    async fn location_without_presigning_is_local_and_long_expiries_fail() {
        let client = client("us-east-1", None, false);
        let local = S3BlobStore::new(client.clone(), "b".into(), None, Duration::from_secs(60), false);
        assert_eq!(local.location("a.crate").await.unwrap(), BlobLocation::Local);
        let too_long = S3BlobStore::new(client, "b".into(), None, Duration::from_secs(8 * 24 * 3600), true);
        assert!(matches!(too_long.location("a.crate").await, Err(BlobError::Backend { .. })));
    }

    #[test]
    fn keys_map_under_the_prefix() {
        let client = client("us-east-1", None, false);
        let plain = S3BlobStore::new(client.clone(), "b".into(), Some("/".into()), Duration::from_secs(1), false);
        assert_eq!(plain.object_key("a/b"), "a/b");
        assert_eq!(plain.describe(), "s3://b/");
        let prefixed = S3BlobStore::new(client, "b".into(), Some("p/q/".into()), Duration::from_secs(1), false);
        assert_eq!(prefixed.object_key("a/b"), "p/q/a/b");
        assert_eq!(prefixed.blob_key("p/q/a/b"), Some("a/b"));
        assert_eq!(prefixed.blob_key("p/qa/b"), None);
        assert_eq!(prefixed.describe(), "s3://b/p/q/");
        assert!(validate_prefix("").is_ok());
        assert!(validate_prefix("crates/fo").is_ok());
        assert!(validate_prefix("crates/").is_ok());
        assert!(validate_prefix("../").is_err());
        assert!(validate_prefix("a b").is_err());
    }
}
