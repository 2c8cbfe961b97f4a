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

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, ConditionCheck, ConsumedCapacity, Delete,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, Put, ReturnConsumedCapacity,
    ReturnValue, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update as SdkUpdate,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use raktar_core::store::item::{
    CancelReason, Condition, Index, Item, ItemStore, Key, PK, Page, Query, SK, SortKey, StoreError, TxOp, Update,
    check_item, check_key, check_transaction, check_update,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// The table name in the exported definition; deployments and tests use their own names.
pub const TABLE_NAME_PLACEHOLDER: &str = "raktar";
/// The attribute DynamoDB's time-to-live deletes items by (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "ttl";
/// How long [`create_table`] waits for a new table to become active.
const CREATE_TABLE_WAIT: Duration = Duration::from_secs(300);

// ----------------------------------------------------------------------------------------------
// Table definition

/// The table's definition, serialized with CloudFormation `AWS::DynamoDB::Table` property names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TableDefinition {
    pub table_name: String,
    pub billing_mode: String,
    pub attribute_definitions: Vec<AttributeDef>,
    pub key_schema: Vec<KeyElement>,
    pub global_secondary_indexes: Vec<IndexDef>,
    pub time_to_live_specification: TtlDef,
}

/// One attribute of a key schema (`AttributeType` `S`: string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AttributeDef {
    pub attribute_name: String,
    pub attribute_type: String,
}

/// One element of a key schema (`KeyType` `HASH` or `RANGE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

/// A global secondary index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct IndexDef {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: ProjectionDef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProjectionDef {
    pub projection_type: String,
}

/// The time-to-live setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TtlDef {
    pub attribute_name: String,
    pub enabled: bool,
}

fn key_schema(pk: &str, sk: &str) -> Vec<KeyElement> {
    vec![
        KeyElement { attribute_name: pk.into(), key_type: "HASH".into() },
        KeyElement { attribute_name: sk.into(), key_type: "RANGE".into() },
    ]
}

/// The one definition of the table (the single source of `schema/dynamodb-table.json`).
pub fn table_definition() -> TableDefinition {
    let string_attr = |name: &str| AttributeDef { attribute_name: name.into(), attribute_type: "S".into() };
    let mut attribute_definitions = vec![string_attr(PK), string_attr(SK)];
    let mut global_secondary_indexes = Vec::new();
    for index in Index::ALL {
        attribute_definitions.push(string_attr(index.pk_attr()));
        attribute_definitions.push(string_attr(index.sk_attr()));
        global_secondary_indexes.push(IndexDef {
            index_name: index.name().into(),
            key_schema: key_schema(index.pk_attr(), index.sk_attr()),
            projection: ProjectionDef { projection_type: "ALL".into() },
        });
    }
    TableDefinition {
        table_name: TABLE_NAME_PLACEHOLDER.into(),
        billing_mode: "PAY_PER_REQUEST".into(),
        attribute_definitions,
        key_schema: key_schema(PK, SK),
        global_secondary_indexes,
        time_to_live_specification: TtlDef { attribute_name: TTL_ATTRIBUTE.into(), enabled: true },
    }
}

fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("building a DynamoDB request: {e}"))
}

fn sdk_key_schema(elements: &[KeyElement]) -> Result<Vec<KeySchemaElement>, StoreError> {
    elements
        .iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(build_error)
        })
        .collect()
}

/// Creates table `name` from [`table_definition`], waits until it is active, and enables TTL.
/// An emulator that does not implement TTL gets a warning, not an error.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let def = table_definition();
    let attribute_definitions = def
        .attribute_definitions
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(build_error)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let indexes = def
        .global_secondary_indexes
        .iter()
        .map(|i| {
            GlobalSecondaryIndex::builder()
                .index_name(&i.index_name)
                .set_key_schema(Some(sdk_key_schema(&i.key_schema)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(i.projection.projection_type.as_str()))
                        .build(),
                )
                .build()
                .map_err(build_error)
        })
        .collect::<Result<Vec<_>, _>>()?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(def.billing_mode.as_str()))
        .set_attribute_definitions(Some(attribute_definitions))
        .set_key_schema(Some(sdk_key_schema(&def.key_schema)?))
        .set_global_secondary_indexes(Some(indexes))
        .send()
        .await
        .map_err(|e| map_sdk_error("CreateTable", e))?;
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(CREATE_TABLE_WAIT)
        .await
        .map_err(|e| StoreError::Backend(format!("waiting for table {name}: {}", DisplayErrorContext(&e))))?;

    let ttl = &def.time_to_live_specification;
    let spec = TimeToLiveSpecification::builder()
        .attribute_name(&ttl.attribute_name)
        .enabled(ttl.enabled)
        .build()
        .map_err(build_error)?;
    match client.update_time_to_live().table_name(name).time_to_live_specification(spec).send().await {
        Ok(_) => {}
        Err(e) if matches!(e.code(), Some("NotImplemented" | "NotImplementedError" | "UnknownOperationException")) => {
            tracing::warn!(table = name, error = %DisplayErrorContext(&e), "backend does not implement TTL; skipped");
        }
        Err(e) => return Err(map_sdk_error("UpdateTimeToLive", e)),
    }
    tracing::info!(table = name, "created DynamoDB table");
    Ok(())
}

// ----------------------------------------------------------------------------------------------
// Metrics

/// Requests sent and capacity consumed, as counted by one store (and its clones).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DynamoMetrics {
    pub get_item: u64,
    pub query: u64,
    pub put_item: u64,
    pub update_item: u64,
    pub delete_item: u64,
    pub transact_write_items: u64,
    /// Read capacity units DynamoDB reported.
    pub read_capacity_units: f64,
    /// Write capacity units DynamoDB reported.
    pub write_capacity_units: f64,
}

impl DynamoMetrics {
    /// Every request of every kind.
    pub fn requests(&self) -> u64 {
        self.get_item + self.query + self.put_item + self.update_item + self.delete_item + self.transact_write_items
    }

    /// The change from `earlier` to `self` (for measuring one registry operation).
    pub fn since(&self, earlier: &DynamoMetrics) -> DynamoMetrics {
        DynamoMetrics {
            get_item: self.get_item.saturating_sub(earlier.get_item),
            query: self.query.saturating_sub(earlier.query),
            put_item: self.put_item.saturating_sub(earlier.put_item),
            update_item: self.update_item.saturating_sub(earlier.update_item),
            delete_item: self.delete_item.saturating_sub(earlier.delete_item),
            transact_write_items: self.transact_write_items.saturating_sub(earlier.transact_write_items),
            read_capacity_units: self.read_capacity_units - earlier.read_capacity_units,
            write_capacity_units: self.write_capacity_units - earlier.write_capacity_units,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    GetItem,
    Query,
    PutItem,
    UpdateItem,
    DeleteItem,
    TransactWriteItems,
}

impl Op {
    fn is_read(self) -> bool {
        matches!(self, Op::GetItem | Op::Query)
    }
}

#[derive(Debug, Default)]
struct Metrics {
    requests: [AtomicU64; 6],
    /// `f64` bits.
    rcu: AtomicU64,
    wcu: AtomicU64,
}

fn add_f64(cell: &AtomicU64, delta: f64) {
    if delta != 0.0 {
        // The closure always returns `Some`, so this cannot fail.
        let _ = cell
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + delta).to_bits()));
    }
}

impl Metrics {
    fn request(&self, op: Op) {
        self.requests[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the capacity of one response; a total without a read/write split counts as the
    /// operation's natural kind.
    fn consumed<'a>(&self, op: Op, capacity: impl IntoIterator<Item = &'a ConsumedCapacity>) {
        for c in capacity {
            let (read, write) = match (c.read_capacity_units(), c.write_capacity_units()) {
                (None, None) => {
                    let total = c.capacity_units().unwrap_or(0.0);
                    if op.is_read() { (total, 0.0) } else { (0.0, total) }
                }
                (read, write) => (read.unwrap_or(0.0), write.unwrap_or(0.0)),
            };
            add_f64(&self.rcu, read);
            add_f64(&self.wcu, write);
        }
    }

    fn snapshot(&self) -> DynamoMetrics {
        let n = |op: Op| self.requests[op as usize].load(Ordering::Relaxed);
        DynamoMetrics {
            get_item: n(Op::GetItem),
            query: n(Op::Query),
            put_item: n(Op::PutItem),
            update_item: n(Op::UpdateItem),
            delete_item: n(Op::DeleteItem),
            transact_write_items: n(Op::TransactWriteItems),
            read_capacity_units: f64::from_bits(self.rcu.load(Ordering::Relaxed)),
            write_capacity_units: f64::from_bits(self.wcu.load(Ordering::Relaxed)),
        }
    }

    fn reset(&self) {
        for r in &self.requests {
            r.store(0, Ordering::Relaxed);
        }
        self.rcu.store(0.0_f64.to_bits(), Ordering::Relaxed);
        self.wcu.store(0.0_f64.to_bits(), Ordering::Relaxed);
    }
}

// ----------------------------------------------------------------------------------------------
// The store

/// The DynamoDB [`ItemStore`] for one table. Clones share the client and the metrics.
#[derive(Debug, Clone)]
pub struct DynamoItemStore {
    client: Client,
    table: String,
    metrics: Arc<Metrics>,
}

impl DynamoItemStore {
    /// A store on `table` (which must exist with [`table_definition`]'s keys and indexes).
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table, metrics: Arc::new(Metrics::default()) }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Requests sent and capacity consumed since creation or the last [`reset_metrics`](Self::reset_metrics).
    pub fn metrics(&self) -> DynamoMetrics {
        self.metrics.snapshot()
    }

    /// Sets every counter back to zero.
    pub fn reset_metrics(&self) {
        self.metrics.reset();
    }
}

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::Invalid(message.into())
}

/// Maps an SDK error: failed conditions, validation errors, and everything else as a backend error
/// (with the error chain, which never holds credentials).
fn map_sdk_error<E, R>(op: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match err.code() {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
        Some("ValidationException") => {
            let message = err.message().unwrap_or("validation error").to_owned();
            tracing::debug!(op, message = %message, "DynamoDB rejected a request");
            StoreError::Invalid(format!("{op}: {message}"))
        }
        _ => {
            let error = DisplayErrorContext(&err).to_string();
            tracing::warn!(op, error = %error, "DynamoDB request failed");
            StoreError::Backend(format!("DynamoDB {op}: {error}"))
        }
    }
}

#[async_trait]
impl ItemStore for DynamoItemStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        check_key(key)?;
        self.metrics.request(Op::GetItem);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| map_sdk_error("GetItem", e))?;
        self.metrics.consumed(Op::GetItem, out.consumed_capacity());
        out.item.map(item_from_attrs).transpose()
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        if query.pk.is_empty() {
            return Err(invalid("query with an empty partition key"));
        }
        if query.limit == Some(0) {
            return Err(invalid("query limit must be at least 1"));
        }
        let start = query.cursor.as_deref().map(|c| decode_cursor(query.index, &query.pk, c)).transpose()?;
        let Some(sort) = sort_condition(&query.sk) else {
            return Ok(Page::default());
        };
        let (pk_attr, sk_attr) = match query.index {
            None => (PK, SK),
            Some(index) => (index.pk_attr(), index.sk_attr()),
        };
        let mut expr = Expr::default();
        let mut key_condition = format!("{} = {}", expr.name(pk_attr), expr.value(AttributeValue::S(query.pk.clone())));
        if let Some(sort) = sort {
            key_condition.push_str(" AND ");
            key_condition.push_str(&expr.sort_key(sk_attr, &sort));
        }
        self.metrics.request(Op::Query);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(query.index.map(|i| i.name().to_owned()))
            .key_condition_expression(key_condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .scan_index_forward(query.forward)
            .set_limit(query.limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
            .set_exclusive_start_key(start)
            .consistent_read(query.index.is_none())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| map_sdk_error("Query", e))?;
        self.metrics.consumed(Op::Query, out.consumed_capacity());
        let cursor = match out.last_evaluated_key {
            Some(last) if !last.is_empty() => Some(encode_cursor(query.index, last)?),
            _ => None,
        };
        let items = out.items.unwrap_or_default().into_iter().map(item_from_attrs).collect::<Result<_, _>>()?;
        Ok(Page { items, cursor })
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        check_item(&item)?;
        let mut expr = Expr::default();
        let condition = condition.as_ref().and_then(|c| expr.condition(c));
        self.metrics.request(Op::PutItem);
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_to_attrs(&item)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| map_sdk_error("PutItem", e))?;
        self.metrics.consumed(Op::PutItem, out.consumed_capacity());
        Ok(())
    }

    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError> {
        check_key(key)?;
        check_update(&update)?;
        let mut expr = Expr::default();
        let update_expression = expr.update(&update);
        let condition = condition.as_ref().and_then(|c| expr.condition(c));
        self.metrics.request(Op::UpdateItem);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .set_update_expression(update_expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_values(ReturnValue::AllNew)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| map_sdk_error("UpdateItem", e))?;
        self.metrics.consumed(Op::UpdateItem, out.consumed_capacity());
        match out.attributes {
            Some(attrs) if !attrs.is_empty() => item_from_attrs(attrs),
            // `ALL_NEW` always returns the item; an emulator might not: the key is all there is.
            _ => Ok(Item(key_map(key))),
        }
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        check_key(key)?;
        let mut expr = Expr::default();
        let condition = condition.as_ref().and_then(|c| expr.condition(c));
        self.metrics.request(Op::DeleteItem);
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| map_sdk_error("DeleteItem", e))?;
        self.metrics.consumed(Op::DeleteItem, out.consumed_capacity());
        Ok(())
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        check_transaction(&ops)?;
        if ops.is_empty() {
            return Ok(());
        }
        let count = ops.len();
        let items = ops.iter().map(|op| self.transact_item(op)).collect::<Result<Vec<_>, _>>()?;
        self.metrics.request(Op::TransactWriteItems);
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                self.metrics.consumed(Op::TransactWriteItems, out.consumed_capacity());
                Ok(())
            }
            Err(err) => match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    let reasons = cancel_reasons(e.cancellation_reasons());
                    if reasons.len() != count {
                        tracing::warn!(
                            ops = count,
                            reasons = reasons.len(),
                            "cancellation reasons do not match operations"
                        );
                    }
                    tracing::debug!(?reasons, table = %self.table, "DynamoDB transaction cancelled");
                    Err(StoreError::TransactionCanceled { reasons })
                }
                _ => Err(map_sdk_error("TransactWriteItems", err)),
            },
        }
    }

    /// See [`DynamoItemStore::scan_page`] (at the end of this file).
    async fn scan(&self, segment: Option<(u32, u32)>, cursor: Option<String>, limit: u32) -> Result<Page, StoreError> {
        self.scan_page(segment, cursor, limit).await
    }

    fn describe(&self) -> String {
        format!("dynamodb:{}", self.table)
    }
}

impl DynamoItemStore {
    /// One operation of a `TransactWriteItems` request (each with its own placeholders).
    fn transact_item(&self, op: &TxOp) -> Result<TransactWriteItem, StoreError> {
        let mut expr = Expr::default();
        let item = match op {
            TxOp::Put { item, condition } => {
                let condition = condition.as_ref().and_then(|c| expr.condition(c));
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item_to_attrs(item)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().put(put).build()
            }
            TxOp::Update { key, update, condition } => {
                let update_expression = expr.update(update);
                let condition = condition.as_ref().and_then(|c| expr.condition(c));
                // `TransactWriteItems` requires an update expression and none can say "touch the
                // item", so an empty update is a condition check (the operation's condition, or
                // one that always holds). Unlike the embedded driver it does not create an absent
                // item with only its key; nothing in the model relies on that.
                let Some(update_expression) = update_expression else {
                    return self.condition_check(key, condition, expr);
                };
                let update = SdkUpdate::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(key)))
                    .update_expression(update_expression)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().update(update).build()
            }
            TxOp::Delete { key, condition } => {
                let condition = condition.as_ref().and_then(|c| expr.condition(c));
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attrs(key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().delete(delete).build()
            }
            TxOp::Check { key, condition } => {
                let condition = expr.condition(condition);
                return self.condition_check(key, condition, expr);
            }
        };
        Ok(item)
    }

    /// A condition check; without a condition (an empty `All`) one that always holds.
    fn condition_check(
        &self,
        key: &Key,
        condition: Option<String>,
        mut expr: Expr,
    ) -> Result<TransactWriteItem, StoreError> {
        let condition = condition.unwrap_or_else(|| {
            let pk = expr.name(PK);
            format!("attribute_exists({pk}) OR attribute_not_exists({pk})")
        });
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .condition_expression(condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}

fn cancel_reasons(reasons: &[CancellationReason]) -> Vec<Option<CancelReason>> {
    reasons
        .iter()
        .map(|r| match r.code() {
            None | Some("None") => None,
            Some("ConditionalCheckFailed") => Some(CancelReason::ConditionFailed),
            Some(code) => Some(CancelReason::Other(match r.message() {
                Some(message) => format!("{code}: {message}"),
                None => code.to_owned(),
            })),
        })
        .collect()
}

// ----------------------------------------------------------------------------------------------
// Items <-> attribute values

/// A JSON value as a DynamoDB attribute value.
pub fn to_attribute_value(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(values) => AttributeValue::L(values.iter().map(to_attribute_value).collect()),
        Value::Object(map) => AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), to_attribute_value(v))).collect()),
    }
}

/// A DynamoDB number as JSON: an integer when it is one (and fits 64 bits), else a float.
fn number_value(text: &str) -> Result<Value, StoreError> {
    if let Ok(i) = text.parse::<i64>() {
        return Ok(Value::from(i));
    }
    if let Ok(u) = text.parse::<u64>() {
        return Ok(Value::from(u));
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| StoreError::Serialization(format!("number {text:?} does not fit JSON")))
}

/// A DynamoDB attribute value as JSON.
pub fn from_attribute_value(value: AttributeValue) -> Result<Value, StoreError> {
    Ok(match value {
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::N(n) => number_value(&n)?,
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(values) => {
            Value::Array(values.into_iter().map(from_attribute_value).collect::<Result<_, _>>()?)
        }
        AttributeValue::M(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, from_attribute_value(v)?)))
                .collect::<Result<Map<_, _>, StoreError>>()?,
        ),
        AttributeValue::Ss(values) => Value::Array(values.into_iter().map(Value::String).collect()),
        AttributeValue::Ns(values) => Value::Array(values.iter().map(|n| number_value(n)).collect::<Result<_, _>>()?),
        AttributeValue::B(_) | AttributeValue::Bs(_) => {
            return Err(StoreError::Serialization("binary attribute values are not supported".into()));
        }
        _ => return Err(StoreError::Serialization("unknown DynamoDB attribute value type".into())),
    })
}

fn item_to_attrs(item: &Item) -> HashMap<String, AttributeValue> {
    item.0.iter().map(|(k, v)| (k.clone(), to_attribute_value(v))).collect()
}

fn item_from_attrs(attrs: HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    attrs.into_iter().map(|(k, v)| Ok((k, from_attribute_value(v)?))).collect::<Result<Map<_, _>, _>>().map(Item)
}

fn key_attrs(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn key_map(key: &Key) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(PK.into(), Value::String(key.pk.clone()));
    map.insert(SK.into(), Value::String(key.sk.clone()));
    map
}

// ----------------------------------------------------------------------------------------------
// Expressions

/// Placeholders of one request's expressions. Each attribute name gets one `#nN` placeholder
/// (reused across the update and the condition); each value gets a fresh `:vN`.
#[derive(Debug, Default)]
struct Expr {
    names: HashMap<String, String>,
    by_attr: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

/// A sort-key condition that can match something.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SortCond<'a> {
    Prefix(&'a str),
    Between(&'a str, &'a str),
    From(&'a str),
    UpTo(&'a str),
}

/// The sort-key condition to send: `Some(None)` for none, `None` when nothing can match (DynamoDB
/// rejects an inverted `BETWEEN` and empty strings in key conditions; both mean "no items" here).
fn sort_condition(sk: &SortKey) -> Option<Option<SortCond<'_>>> {
    match sk {
        SortKey::Any => Some(None),
        SortKey::Prefix(p) if p.is_empty() => Some(None),
        SortKey::Prefix(p) => Some(Some(SortCond::Prefix(p))),
        SortKey::From(from) if from.is_empty() => Some(None),
        SortKey::From(from) => Some(Some(SortCond::From(from))),
        SortKey::UpTo(to) if to.is_empty() => None,
        SortKey::UpTo(to) => Some(Some(SortCond::UpTo(to))),
        SortKey::Between(from, to) if from > to || to.is_empty() => None,
        SortKey::Between(from, to) if from.is_empty() => Some(Some(SortCond::UpTo(to))),
        SortKey::Between(from, to) => Some(Some(SortCond::Between(from, to))),
    }
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        if let Some(placeholder) = self.by_attr.get(attr) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.by_attr.len());
        self.by_attr.insert(attr.to_owned(), placeholder.clone());
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn json(&mut self, value: &Value) -> String {
        self.value(to_attribute_value(value))
    }

    /// The condition expression, or `None` when the condition always holds (an empty `All`).
    fn condition(&mut self, condition: &Condition) -> Option<String> {
        match condition {
            Condition::Exists => Some(format!("attribute_exists({})", self.name(PK))),
            Condition::NotExists => Some(format!("attribute_not_exists({})", self.name(PK))),
            Condition::AttrEquals(attr, value) => {
                let name = self.name(attr);
                Some(format!("{name} = {}", self.json(value)))
            }
            Condition::AttrNotExists(attr) => {
                let pk = self.name(PK);
                Some(format!("attribute_exists({pk}) AND attribute_not_exists({})", self.name(attr)))
            }
            Condition::All(parts) => {
                let mut rendered: Vec<String> = parts.iter().filter_map(|p| self.condition(p)).collect();
                match rendered.len() {
                    0 => None,
                    1 => rendered.pop(),
                    _ => Some(rendered.iter().map(|p| format!("({p})")).collect::<Vec<_>>().join(" AND ")),
                }
            }
        }
    }

    /// The update expression, or `None` for an empty update.
    fn update(&mut self, update: &Update) -> Option<String> {
        // `ADD` goes first: it is the only action that can fail on the item's current state (a
        // non-number attribute). DynamoDB applies an update atomically whatever the clause order;
        // moto applies actions one by one in order, so failing first keeps it from half-applying.
        let mut add = Vec::new();
        for (attr, delta) in &update.add {
            let name = self.name(attr);
            add.push(format!("{name} {}", self.value(AttributeValue::N(delta.to_string()))));
        }
        let mut set = Vec::new();
        for (attr, value) in &update.set {
            let name = self.name(attr);
            set.push(format!("{name} = {}", self.json(value)));
        }
        for (attr, value) in &update.set_if_absent {
            let name = self.name(attr);
            set.push(format!("{name} = if_not_exists({name}, {})", self.json(value)));
        }
        let remove: Vec<String> = update.remove.iter().map(|attr| self.name(attr)).collect();
        let clauses: Vec<String> = [("ADD", add), ("SET", set), ("REMOVE", remove)]
            .into_iter()
            .filter(|(_, parts)| !parts.is_empty())
            .map(|(verb, parts)| format!("{verb} {}", parts.join(", ")))
            .collect();
        (!clauses.is_empty()).then(|| clauses.join(" "))
    }

    fn sort_key(&mut self, attr: &str, cond: &SortCond<'_>) -> String {
        let name = self.name(attr);
        let mut s = |v: &str| self.value(AttributeValue::S(v.to_owned()));
        match cond {
            SortCond::Prefix(p) => format!("begins_with({name}, {})", s(p)),
            SortCond::Between(from, to) => {
                let from = s(from);
                format!("{name} BETWEEN {from} AND {}", s(to))
            }
            SortCond::From(from) => format!("{name} >= {}", s(from)),
            SortCond::UpTo(to) => format!("{name} <= {}", s(to)),
        }
    }

    /// The names for the request (`None` when empty: DynamoDB rejects an empty map).
    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

// ----------------------------------------------------------------------------------------------
// Cursors

/// The key attributes a `LastEvaluatedKey` holds for a query of the table or an index.
fn cursor_attrs(index: Option<Index>) -> Vec<&'static str> {
    match index {
        None => vec![PK, SK],
        Some(index) => vec![PK, SK, index.pk_attr(), index.sk_attr()],
    }
}

fn encode_cursor(index: Option<Index>, last: HashMap<String, AttributeValue>) -> Result<String, StoreError> {
    let mut key = Map::new();
    for (attr, value) in last {
        match value {
            AttributeValue::S(s) => {
                key.insert(attr, Value::String(s));
            }
            _ => return Err(StoreError::Backend(format!("LastEvaluatedKey attribute {attr} is not a string"))),
        }
    }
    let cursor = serde_json::json!({ "i": index.map(Index::name), "k": key });
    Ok(URL_SAFE_NO_PAD.encode(cursor.to_string()))
}

/// Decodes a cursor into an `ExclusiveStartKey`, checking it belongs to this index and partition.
fn decode_cursor(index: Option<Index>, pk: &str, cursor: &str) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let bad = || invalid("invalid query cursor");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if value.get("i").and_then(Value::as_str) != index.map(Index::name) {
        return Err(invalid("query cursor belongs to another index"));
    }
    let key = value.get("k").and_then(Value::as_object).ok_or_else(bad)?;
    let expected = cursor_attrs(index);
    if key.len() != expected.len() || !expected.iter().all(|a| key.get(*a).is_some_and(Value::is_string)) {
        return Err(bad());
    }
    let partition_attr = index.map_or(PK, Index::pk_attr);
    if key.get(partition_attr).and_then(Value::as_str) != Some(pk) {
        return Err(invalid("query cursor belongs to another partition"));
    }
    Ok(key.iter().filter_map(|(attr, v)| v.as_str().map(|s| (attr.clone(), AttributeValue::S(s.to_owned())))).collect())
}

// ----------------------------------------------------------------------------------------------
// Scans (bulk reads for migration and verification)

impl DynamoItemStore {
    /// One `Scan` request: `Segment`/`TotalSegments` when a segment is given, `Limit`, strongly
    /// consistent reads, `ExclusiveStartKey` from the cursor. The cursor is the `LastEvaluatedKey`
    /// as URL-safe base64 of `{"scan": {"pk": .., "sk": ..}, "seg": [index, total] or null}`; a
    /// cursor of another segment split is refused. Like every DynamoDB scan, a page may be short
    /// (1 MB per response) and a full last page may carry a cursor to an empty page. Scans count as
    /// queries in [`DynamoItemStore::metrics`].
    async fn scan_page(
        &self,
        segment: Option<(u32, u32)>,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<Page, StoreError> {
        raktar_core::store::item::check_scan_args(segment, limit)?;
        let start = cursor.as_deref().map(|c| decode_scan_cursor(segment, c)).transpose()?;
        let to_i32 = |n: u32| i32::try_from(n).map_err(|_| invalid("scan argument out of range"));
        let (seg, total) = match segment {
            Some((index, total)) => (Some(to_i32(index)?), Some(to_i32(total)?)),
            None => (None, None),
        };
        self.metrics.request(Op::Query);
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .set_segment(seg)
            .set_total_segments(total)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| map_sdk_error("Scan", e))?;
        self.metrics.consumed(Op::Query, out.consumed_capacity());
        let cursor = match out.last_evaluated_key {
            Some(last) if !last.is_empty() => Some(encode_scan_cursor(segment, last)?),
            _ => None,
        };
        let items = out.items.unwrap_or_default().into_iter().map(item_from_attrs).collect::<Result<_, _>>()?;
        Ok(Page { items, cursor })
    }
}

fn encode_scan_cursor(
    segment: Option<(u32, u32)>,
    last: HashMap<String, AttributeValue>,
) -> Result<String, StoreError> {
    let mut key = Map::new();
    for (attr, value) in last {
        match value {
            AttributeValue::S(s) => {
                key.insert(attr, Value::String(s));
            }
            _ => return Err(StoreError::Backend(format!("LastEvaluatedKey attribute {attr} is not a string"))),
        }
    }
    let cursor = serde_json::json!({ "scan": key, "seg": segment.map(|(i, t)| [i, t]) });
    Ok(URL_SAFE_NO_PAD.encode(cursor.to_string()))
}

fn decode_scan_cursor(
    segment: Option<(u32, u32)>,
    cursor: &str,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let bad = || invalid("invalid scan cursor");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let expected_segment = serde_json::to_value(segment.map(|(i, t)| [i, t])).map_err(|_| bad())?;
    if value.get("seg") != Some(&expected_segment) {
        return Err(invalid("scan cursor belongs to another segment"));
    }
    let key = value.get("scan").and_then(Value::as_object).ok_or_else(bad)?;
    if key.len() != 2 || ![PK, SK].iter().all(|a| key.get(*a).is_some_and(Value::is_string)) {
        return Err(bad());
    }
    Ok(key.iter().filter_map(|(attr, v)| v.as_str().map(|s| (attr.clone(), AttributeValue::S(s.to_owned())))).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_round_trips_through_attribute_values() {
        let value = json!({
            "s": "x", "empty": "", "i": 42, "neg": -7, "big": 9_007_199_254_740_993_i64, "u": u64::MAX,
            "f": 1.5, "nf": -2.25, "t": true, "n": null, "l": [1, "two", [3], {"four": 4}], "el": [], "m": {"a": {"b": "c"}}, "em": {}
        });
        let attr = to_attribute_value(&value);
        let AttributeValue::M(map) = &attr else { panic!("not a map") };
        assert_eq!(map["i"], AttributeValue::N("42".into()));
        assert_eq!(map["big"], AttributeValue::N("9007199254740993".into()));
        assert_eq!(map["n"], AttributeValue::Null(true));
        assert_eq!(map["empty"], AttributeValue::S(String::new()));
        assert_eq!(from_attribute_value(attr).unwrap(), value);
        assert_eq!(from_attribute_value(AttributeValue::N("1E+2".into())).unwrap(), json!(100.0));
        assert_eq!(from_attribute_value(AttributeValue::Ns(vec!["1".into(), "2.5".into()])).unwrap(), json!([1, 2.5]));
        assert!(from_attribute_value(AttributeValue::B(vec![1].into())).is_err());
    }

    #[test]
    fn conditions_render_with_placeholders_only() {
        let mut e = Expr::default();
        let c = Condition::All(vec![
            Condition::Exists,
            Condition::AttrEquals("rev".into(), json!(3)),
            Condition::All(vec![]),
            Condition::AttrNotExists("deleted flag".into()),
        ]);
        let rendered = e.condition(&c).unwrap();
        assert_eq!(
            rendered,
            "(attribute_exists(#n0)) AND (#n1 = :v0) AND (attribute_exists(#n0) AND attribute_not_exists(#n2))"
        );
        assert_eq!(e.names["#n0"], "pk");
        assert_eq!(e.names["#n1"], "rev");
        assert_eq!(e.names["#n2"], "deleted flag");
        assert_eq!(e.values[":v0"], AttributeValue::N("3".into()));
        assert_eq!(Expr::default().condition(&Condition::All(vec![])), None);
        assert_eq!(Expr::default().condition(&Condition::NotExists).unwrap(), "attribute_not_exists(#n0)");
    }

    #[test]
    fn updates_render_every_clause() {
        let mut e = Expr::default();
        let u = Update::new().set("a", 1).set_if_absent("b", "x").remove("c").add("d", -2).remove("e");
        assert_eq!(e.update(&u).unwrap(), "ADD #n0 :v0 SET #n1 = :v1, #n2 = if_not_exists(#n2, :v2) REMOVE #n3, #n4");
        assert_eq!(e.values[":v0"], AttributeValue::N("-2".into()));
        // The condition reuses the names of the update.
        assert_eq!(e.condition(&Condition::AttrEquals("a".into(), json!("z"))).unwrap(), "#n1 = :v3");
        assert_eq!(Expr::default().update(&Update::new()), None);
    }

    #[test]
    fn sort_key_conditions() {
        let mut e = Expr::default();
        assert_eq!(e.sort_key("sk", &SortCond::Prefix("A#")), "begins_with(#n0, :v0)");
        assert_eq!(e.sort_key("sk", &SortCond::Between("a", "b")), "#n0 BETWEEN :v1 AND :v2");
        assert_eq!(e.sort_key("gsi1sk", &SortCond::From("a")), "#n1 >= :v3");
        assert_eq!(e.sort_key("sk", &SortCond::UpTo("a")), "#n0 <= :v4");
        assert_eq!(sort_condition(&SortKey::Between("b".into(), "a".into())), None);
        assert_eq!(sort_condition(&SortKey::UpTo(String::new())), None);
        assert_eq!(sort_condition(&SortKey::Prefix(String::new())), Some(None));
        assert_eq!(sort_condition(&SortKey::From(String::new())), Some(None));
        assert_eq!(sort_condition(&SortKey::Between(String::new(), "b".into())), Some(Some(SortCond::UpTo("b"))));
    }

    #[test]
    fn cursors_round_trip_and_are_checked() {
        let last = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("P#1".into())),
            ("sk".to_owned(), AttributeValue::S("S".into())),
            ("gsi1pk".to_owned(), AttributeValue::S("G".into())),
            ("gsi1sk".to_owned(), AttributeValue::S("x".into())),
        ]);
        let cursor = encode_cursor(Some(Index::Gsi1), last.clone()).unwrap();
        assert_eq!(decode_cursor(Some(Index::Gsi1), "G", &cursor).unwrap(), last);
        assert!(matches!(decode_cursor(Some(Index::Gsi1), "H", &cursor), Err(StoreError::Invalid(_))));
        assert!(matches!(decode_cursor(Some(Index::Gsi2), "G", &cursor), Err(StoreError::Invalid(_))));
        assert!(matches!(decode_cursor(None, "P#1", &cursor), Err(StoreError::Invalid(_))));
        assert!(matches!(decode_cursor(None, "P#1", "not a cursor!"), Err(StoreError::Invalid(_))));
        let table = encode_cursor(
            None,
            HashMap::from([
                ("pk".to_owned(), AttributeValue::S("P#1".into())),
                ("sk".to_owned(), AttributeValue::S("S".into())),
            ]),
        )
        .unwrap();
        assert_eq!(decode_cursor(None, "P#1", &table).unwrap().len(), 2);
    }

    #[test]
    fn cancellation_reasons_map_to_the_port() {
        let reason = |code: Option<&str>, message: Option<&str>| {
            CancellationReason::builder().set_code(code.map(Into::into)).set_message(message.map(Into::into)).build()
        };
        let reasons = cancel_reasons(&[
            reason(Some("None"), None),
            reason(Some("ConditionalCheckFailed"), Some("The conditional request failed")),
            reason(Some("TransactionConflict"), Some("Transaction is ongoing for the item")),
            reason(None, None),
        ]);
        assert_eq!(
            reasons,
            vec![
                None,
                Some(CancelReason::ConditionFailed),
                Some(CancelReason::Other("TransactionConflict: Transaction is ongoing for the item".into())),
                None
            ]
        );
    }

    #[test]
    fn metrics_count_and_reset() {
        let m = Metrics::default();
        m.request(Op::GetItem);
        m.request(Op::TransactWriteItems);
        m.consumed(Op::GetItem, &[ConsumedCapacity::builder().capacity_units(1.0).build()]);
        m.consumed(Op::PutItem, &[ConsumedCapacity::builder().capacity_units(2.0).build()]);
        m.consumed(
            Op::TransactWriteItems,
            &[ConsumedCapacity::builder().capacity_units(4.0).write_capacity_units(4.0).build()],
        );
        let s = m.snapshot();
        assert_eq!((s.get_item, s.transact_write_items, s.requests()), (1, 1, 2));
        assert_eq!((s.read_capacity_units, s.write_capacity_units), (1.0, 6.0));
        m.reset();
        assert_eq!(m.snapshot(), DynamoMetrics::default());
    }

    #[test]
    fn table_definition_matches_the_model() {
        let def = table_definition();
        assert_eq!(def.key_schema, key_schema("pk", "sk"));
        let names: Vec<&str> = def.global_secondary_indexes.iter().map(|i| i.index_name.as_str()).collect();
        assert_eq!(names, ["gsi1", "gsi2"]);
        assert!(def.attribute_definitions.iter().all(|a| a.attribute_type == "S"));
        assert_eq!(def.attribute_definitions.len(), 6);
        let json = serde_json::to_value(&def).unwrap();
        assert_eq!(json["GlobalSecondaryIndexes"][1]["KeySchema"][0]["AttributeName"], "gsi2pk");
        assert_eq!(json["TimeToLiveSpecification"]["AttributeName"], "ttl");
        let back: TableDefinition = serde_json::from_value(json).unwrap();
        assert_eq!(back, def);
    }
}
