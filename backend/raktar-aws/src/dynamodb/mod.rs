//! The DynamoDB [`ItemStore`]: the single table of the data model in one DynamoDB table.
//!
//! # Table
//! The table has one definition, [`table_definition`]: partition key `pk` and sort key `sk`, two
//! global secondary indexes `gsi1` (`gsi1pk`/`gsi1sk`) and `gsi2` (`gsi2pk`/`gsi2sk`) projecting
//! every attribute, all key attributes strings, on-demand billing, TTL on `ttl`. Its JSON export
//! (CloudFormation `AWS::DynamoDB::Table` property names) is committed as
//! `schema/dynamodb-table.json` for the infrastructure code; a test fails when the two differ.
//! [`create_table`] creates a table from the same definition (tests, `raktar` bootstrap).
//!
//! # Items
//! An item is a JSON object; every attribute converts one to one: strings to `S` (empty strings
//! are fine outside keys), numbers to `N` (read back as a JSON integer when the text is an integer
//! that fits `i64`/`u64`, else as a float), booleans to `BOOL`, `null` to `NULL`, arrays to `L`,
//! objects to `M`. Sets (`SS`/`NS`) read back as arrays; binary attributes are refused. Keys and index
//! keys must be non-empty strings; the driver checks items, keys and updates before sending (the
//! same checks as the embedded driver), so malformed requests fail with [`StoreError::Invalid`]
//! without a round trip. DynamoDB's own `ValidationException` also maps to `Invalid`.
//!
//! # Conditions and updates
//! [`Condition`]s render to a `ConditionExpression`; attribute names and values always go through
//! `ExpressionAttributeNames` (`#n0`, ...) and `ExpressionAttributeValues` (`:v0`, ...), never inline:
//! - `Exists` -> `attribute_exists(#pk)`, `NotExists` -> `attribute_not_exists(#pk)`,
//! - `AttrEquals(a, v)` -> `#a = :v` (false on an absent item or attribute; numbers compare by value),
//! - `AttrNotExists(a)` -> `attribute_exists(#pk) AND attribute_not_exists(#a)`,
//! - `All([..])` -> `(c1) AND (c2) ...` (an empty `All` holds: no expression is sent).
//!
//! A failed condition (`ConditionalCheckFailedException`) is [`StoreError::ConditionFailed`]. An
//! [`Update`] renders to `ADD #d :n SET #a = :v, #b = if_not_exists(#b, :w) REMOVE #c` with
//! `ReturnValues=ALL_NEW`, so `update` returns the item after the write in one request.
//!
//! # Transactions
//! [`ItemStore::transact`] is one `TransactWriteItems` (the SDK fills the idempotency token, so its
//! retries are safe). Two operations on one item and more than [`MAX_TX_OPS`](raktar_core::store::item::MAX_TX_OPS) operations are refused
//! before sending. A `TransactionCanceledException` becomes [`StoreError::TransactionCanceled`] with
//! one reason per operation: code `None` -> `None`, `ConditionalCheckFailed` ->
//! [`CancelReason::ConditionFailed`], anything else (`TransactionConflict`, `ValidationError`, ...)
//! -> [`CancelReason::Other`] holding the code and message.
//!
//! # Reads
//! [`ItemStore::get`] is a strongly consistent `GetItem` (1 read unit per 4 KB);
//! [`ItemStore::get_relaxed`] an eventually consistent one (0.5 read unit per 4 KB), which the
//! domain asks for only where an answer up to about a second old is harmless (the ready sparse
//! index file, immutable version items; see `docs/data-model.md`).
//!
//! # Queries and cursors
//! A [`Query`] is one `Query` request: `#pk = :pk` plus `begins_with`, `BETWEEN`, `>=` or `<=` on the
//! sort key, `ScanIndexForward`, `Limit`, `ConsistentRead` on table queries (index queries are
//! eventually consistent, as the port allows). Sort-key conditions that can match nothing (an
//! inverted `BETWEEN`, `<= ""`) return an empty page without a request. The cursor is the
//! `LastEvaluatedKey`, as URL-safe base64 (no padding) of the JSON
//! `{"i": <index name or null>, "k": {<key attribute>: <string>, ...}}`; a cursor that does not
//! decode, belongs to another index or another partition is [`StoreError::Invalid`]. Like DynamoDB,
//! a full page may carry a cursor that leads to an empty last page.
//!
//! # Metrics
//! Every request asks for `ReturnConsumedCapacity=TOTAL`. [`DynamoItemStore::metrics`] returns the
//! number of requests sent per operation and the read and write capacity units DynamoDB reported.
//! Failed conditional writes consume write units too, but DynamoDB's error responses do not report
//! them, so they are counted as requests only.

//!
//! # Modules
//! [`table`] (definition, creation), [`store`] (the [`ItemStore`] implementation and scans),
//! [`expr`] (condition, update and key-condition expressions), [`attrs`] (items as attribute
//! values, through `serde_dynamo`), [`cursor`] (query and scan cursors), [`metrics`] (request and
//! capacity counters).

pub mod attrs;
mod cursor;
mod expr;
pub mod metrics;
mod store;
pub mod table;

pub use attrs::{from_attribute_value, to_attribute_value};
pub use metrics::DynamoMetrics;
pub use store::DynamoItemStore;
pub use table::{
    AttributeDef, IndexDef, KeyElement, ProjectionDef, TABLE_NAME_PLACEHOLDER, TTL_ATTRIBUTE, TableDefinition, TtlDef,
    create_table, table_definition,
};

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use raktar_core::store::item::{BoxError, StoreError};

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::Invalid(message.into())
}

fn build_error(e: impl Into<BoxError>) -> StoreError {
    StoreError::backend_source("building a DynamoDB request", e)
}

/// Maps an SDK error: failed conditions, validation errors, and everything else as a backend error
/// (with the error chain, which never holds credentials).
fn map_sdk_error<E, R>(op: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match err.code() {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
        Some("ValidationException") => {
            let message = err.message().unwrap_or("validation error").to_owned();
            tracing::debug!(op, message = %message, "DynamoDB rejected a request");
            StoreError::Invalid(format!("{op}: {message}"))
        }
        _ => {
            tracing::warn!(op, error = %DisplayErrorContext(&err), "DynamoDB request failed");
            StoreError::backend_source(format!("DynamoDB {op}"), err)
        }
    }
}
