//! The item-level storage port: what every item store (embedded SQLite, DynamoDB) implements.
//!
//! The vocabulary follows DynamoDB closely on purpose (partition key `pk`, sort key `sk`, global
//! secondary indexes, condition expressions, transactions, atomic `ADD`), so the DynamoDB driver is a
//! direct translation and the embedded driver emulates the same semantics inside SQLite.

use async_trait::async_trait;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

/// Attribute name of the partition key.
pub const PK: &str = "pk";
/// Attribute name of the sort key.
pub const SK: &str = "sk";
/// Attribute holding the expiry (unix seconds) of short-lived items; see
/// [`ItemStore::purge_expired`].
pub const TTL: &str = "ttl";
/// Attribute name holding the entity type on every item.
pub const TYPE: &str = "type";

/// A global secondary index of the single table, named for what it serves. Each index has a
/// partition and a sort attribute; the physical names (`gsi1`, `gsi2`) stay those of deployed tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    /// `gsi1pk` / `gsi1sk`: items grouped under whoever they belong to: a user's tokens, sessions,
    /// owned crates and single sign-on identities; an issuer's trusted-publishing configurations.
    ByOwner,
    /// `gsi2pk` / `gsi2sk`: sharded listings: the crate catalog (listing and search), the user
    /// directory, reserved names, the pull-through cache's files.
    Listing,
}

impl Index {
    pub const ALL: [Index; 2] = [Index::ByOwner, Index::Listing];

    pub fn name(self) -> &'static str {
        match self {
            Index::ByOwner => "gsi1",
            Index::Listing => "gsi2",
        }
    }
    pub fn pk_attr(self) -> &'static str {
        match self {
            Index::ByOwner => "gsi1pk",
            Index::Listing => "gsi2pk",
        }
    }
    pub fn sk_attr(self) -> &'static str {
        match self {
            Index::ByOwner => "gsi1sk",
            Index::Listing => "gsi2sk",
        }
    }
}

/// The primary key of an item.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }
}

/// One stored item: a flat JSON object with string keys. It always carries `pk`, `sk` and `type`,
/// and optionally the index attributes (`gsi1pk`, ...). Values are JSON (strings, numbers, booleans,
/// lists, maps); numbers used as counters are integers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Item(pub Map<String, Value>);

impl Item {
    /// Builds an item from a serializable entity and its key. The entity must serialize to a map.
    pub fn from_entity<T: Serialize>(key: &Key, item_type: &str, entity: &T) -> Result<Self, StoreError> {
        let value = serde_json::to_value(entity).map_err(|e| StoreError::serialization_source("entity to item", e))?;
        let Value::Object(mut map) = value else {
            return Err(StoreError::serialization("entity must serialize to an object"));
        };
        map.insert(PK.into(), Value::String(key.pk.clone()));
        map.insert(SK.into(), Value::String(key.sk.clone()));
        map.insert(TYPE.into(), Value::String(item_type.into()));
        Ok(Self(map))
    }

    /// Deserializes the item into an entity (key and index attributes are ignored by the entity
    /// unless it asks for them).
    pub fn to_entity<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        serde_json::from_value(Value::Object(self.0.clone()))
            .map_err(|e| StoreError::serialization_source("item to entity", e))
    }

    /// Sets a secondary index key pair on the item.
    pub fn with_index(mut self, index: Index, pk: impl Into<String>, sk: impl Into<String>) -> Self {
        self.0.insert(index.pk_attr().into(), Value::String(pk.into()));
        self.0.insert(index.sk_attr().into(), Value::String(sk.into()));
        self
    }

    pub fn key(&self) -> Option<Key> {
        Some(Key::new(self.get_str(PK)?, self.get_str(SK)?))
    }

    pub fn get(&self, attr: &str) -> Option<&Value> {
        self.0.get(attr)
    }

    pub fn get_str(&self, attr: &str) -> Option<&str> {
        self.0.get(attr).and_then(Value::as_str)
    }

    pub fn get_i64(&self, attr: &str) -> Option<i64> {
        self.0.get(attr).and_then(Value::as_i64)
    }

    pub fn set(&mut self, attr: impl Into<String>, value: Value) {
        self.0.insert(attr.into(), value);
    }

    pub fn item_type(&self) -> Option<&str> {
        self.get_str(TYPE)
    }
}

/// A condition on the current state of one item, evaluated atomically with the write it guards.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The item exists (`attribute_exists(pk)`).
    Exists,
    /// The item does not exist (`attribute_not_exists(pk)`).
    NotExists,
    /// The item exists and the attribute equals the value (`#a = :v`).
    AttrEquals(String, Value),
    /// The item exists and the attribute is absent (`attribute_not_exists(#a)`); used for
    /// optimistic locking on items written before an attribute existed.
    AttrNotExists(String),
    /// All conditions hold.
    All(Vec<Condition>),
}

/// A partial update of one item. Applying it to an absent item creates the item (like DynamoDB's
/// `UpdateItem`) unless a condition forbids it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Update {
    /// `SET #a = :v`
    pub set: Vec<(String, Value)>,
    /// `SET #a = if_not_exists(#a, :v)`
    pub set_if_absent: Vec<(String, Value)>,
    /// `REMOVE #a`
    pub remove: Vec<String>,
    /// `ADD #a :n` (an absent attribute counts as 0)
    pub add: Vec<(String, i64)>,
}

impl Update {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set(mut self, attr: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set.push((attr.into(), value.into()));
        self
    }
    pub fn set_if_absent(mut self, attr: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set_if_absent.push((attr.into(), value.into()));
        self
    }
    pub fn remove(mut self, attr: impl Into<String>) -> Self {
        self.remove.push(attr.into());
        self
    }
    pub fn add(mut self, attr: impl Into<String>, delta: i64) -> Self {
        self.add.push((attr.into(), delta));
        self
    }
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.set_if_absent.is_empty() && self.remove.is_empty() && self.add.is_empty()
    }
}

/// A sort-key condition of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortKey {
    /// Every item of the partition.
    Any,
    /// `begins_with(sk, :p)`
    Prefix(String),
    /// `sk BETWEEN :a AND :b` (both inclusive)
    Between(String, String),
    /// `sk >= :a`
    From(String),
    /// `sk <= :b`
    UpTo(String),
}

/// A query of one partition of the table or of a secondary index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub index: Option<Index>,
    pub pk: String,
    pub sk: SortKey,
    /// Ascending sort-key order when true.
    pub forward: bool,
    /// Maximum number of items in one page (the driver may return fewer).
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page.
    pub cursor: Option<String>,
}

impl Query {
    pub fn partition(pk: impl Into<String>) -> Self {
        Self { index: None, pk: pk.into(), sk: SortKey::Any, forward: true, limit: None, cursor: None }
    }
    pub fn on_index(index: Index, pk: impl Into<String>) -> Self {
        Self { index: Some(index), ..Self::partition(pk) }
    }
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sk = SortKey::Prefix(prefix.into());
        self
    }
    pub fn between(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.sk = SortKey::Between(from.into(), to.into());
        self
    }
    pub fn sort_key(mut self, sk: SortKey) -> Self {
        self.sk = sk;
        self
    }
    pub fn backward(mut self) -> Self {
        self.forward = false;
        self
    }
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
    pub fn cursor(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present when more items may follow; pass it back as `Query::cursor`.
    pub cursor: Option<String>,
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum TxOp {
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    Update {
        key: Key,
        update: Update,
        condition: Option<Condition>,
    },
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    /// No write: only the condition must hold.
    Check {
        key: Key,
        condition: Condition,
    },
}

impl TxOp {
    pub fn key(&self) -> Option<Key> {
        match self {
            TxOp::Put { item, .. } => item.key(),
            TxOp::Update { key, .. } | TxOp::Delete { key, .. } | TxOp::Check { key, .. } => Some(key.clone()),
        }
    }
}

/// The most operations one transaction may hold (DynamoDB's `TransactWriteItems` limit).
pub const MAX_TX_OPS: usize = 100;

/// Why one operation of a cancelled transaction failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelReason {
    /// The operation's condition did not hold.
    ConditionFailed,
    /// Another reason reported by the backend (conflict, throttling, validation).
    Other(String),
}

/// The underlying error a store error keeps as its [`source`](std::error::Error::source) (an SDK,
/// SQLite, I/O or JSON error), so that logs show the whole cause chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Store errors compare by kind and message (the sources are not compared).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The condition of a single-item write did not hold.
    #[error("condition failed")]
    ConditionFailed,
    /// A transaction wrote nothing; `reasons[i]` is the outcome of operation `i` (None: no failure).
    #[error("transaction cancelled: {reasons:?}")]
    TransactionCanceled { reasons: Vec<Option<CancelReason>> },
    /// The request was malformed (for example two operations on one item in one transaction, an
    /// invalid cursor, a missing key attribute).
    #[error("invalid store request: {0}")]
    Invalid(String),
    /// An item did not (de)serialize; `message` says what, `source` why.
    #[error("item (de)serialization failed: {message}")]
    Serialization {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The backend failed (I/O, network, throttling after retries); `message` says what, `source`
    /// why.
    #[error("store backend error: {message}")]
    Backend {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
}

impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (StoreError::ConditionFailed, StoreError::ConditionFailed) => true,
            (StoreError::TransactionCanceled { reasons: a }, StoreError::TransactionCanceled { reasons: b }) => a == b,
            (StoreError::Invalid(a), StoreError::Invalid(b)) => a == b,
            (StoreError::Serialization { message: a, .. }, StoreError::Serialization { message: b, .. })
            | (StoreError::Backend { message: a, .. }, StoreError::Backend { message: b, .. }) => a == b,
            _ => false,
        }
    }
}

impl StoreError {
    /// A backend failure without an underlying error.
    pub fn backend(message: impl Into<String>) -> Self {
        StoreError::Backend { message: message.into(), source: None }
    }

    /// A backend failure caused by `source`.
    pub fn backend_source(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StoreError::Backend { message: message.into(), source: Some(source.into()) }
    }

    /// A (de)serialization failure without an underlying error.
    pub fn serialization(message: impl Into<String>) -> Self {
        StoreError::Serialization { message: message.into(), source: None }
    }

    /// A (de)serialization failure caused by `source`.
    pub fn serialization_source(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        StoreError::Serialization { message: message.into(), source: Some(source.into()) }
    }

    /// True when the write (or one operation of the transaction) failed only because a condition did
    /// not hold.
    pub fn is_condition_failure(&self) -> bool {
        match self {
            StoreError::ConditionFailed => true,
            StoreError::TransactionCanceled { reasons } => {
                reasons.iter().any(|r| matches!(r, Some(CancelReason::ConditionFailed)))
            }
            _ => false,
        }
    }

    /// True when operation `i` of a cancelled transaction failed its condition.
    pub fn failed_condition_at(&self, i: usize) -> bool {
        matches!(self, StoreError::TransactionCanceled { reasons } if matches!(reasons.get(i), Some(Some(CancelReason::ConditionFailed))))
    }
}

/// The item-store port. Every method is atomic on its own; `transact` is atomic across items.
#[async_trait]
pub trait ItemStore: Send + Sync + 'static {
    /// Reads one item (strongly consistent).
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// Reads one item where an answer up to about a second old is harmless (the sparse index
    /// file, an immutable version item): a driver may answer from an eventually consistent
    /// replica (DynamoDB: half the read units of [`get`](Self::get)). Never for authentication or
    /// read-modify-write. The default reads strongly.
    async fn get_relaxed(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.get(key).await
    }

    /// Queries one partition of the table or an index, in sort-key order. Table queries are strongly
    /// consistent; index queries may lag behind (as in DynamoDB).
    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Writes a whole item (replacing any item with the same key) if the condition holds.
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError>;

    /// Applies a partial update if the condition holds; returns the item as it is after the update.
    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError>;

    /// Deletes an item if the condition holds. Deleting an absent item without a condition succeeds.
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError>;

    /// Applies every operation or none. At most [`MAX_TX_OPS`] operations, each on a different item.
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError>;

    /// Atomically adds `delta` to a numeric attribute (creating the item and the attribute at 0 when
    /// absent) and returns the new value.
    async fn add(&self, key: &Key, attr: &str, delta: i64) -> Result<i64, StoreError> {
        let item = self.update(key, Update::new().add(attr, delta), None).await?;
        item.get_i64(attr).ok_or_else(|| StoreError::backend(format!("counter {attr} missing after add")))
    }

    /// Reads every item of the table, page by page, for bulk work (migration and its verification;
    /// never for serving requests). `segment` is `(index, total)`: the items are split into `total`
    /// disjoint segments and only segment `index` (`0..total`) is read, so several readers can share
    /// a scan; `None` reads every item. `cursor` is the opaque cursor of the previous page; `limit`
    /// (at least 1) bounds the items of one page. A page may hold fewer items than `limit` (even none)
    /// and still carry a cursor; the scan is complete when a page has no cursor. The order is the
    /// driver's own but stable, so a cursor saved after a page resumes the scan after it. The scan
    /// is not a snapshot: items written while it runs may or may not be seen.
    ///
    /// Drivers that cannot scan keep this default, which refuses.
    async fn scan(&self, segment: Option<(u32, u32)>, cursor: Option<String>, limit: u32) -> Result<Page, StoreError> {
        let _ = (segment, cursor, limit);
        Err(StoreError::Invalid("scan not supported".into()))
    }

    /// A short description of the driver for logs ("sqlite:/path", "dynamodb:table").
    fn describe(&self) -> String;

    /// Deletes at most `limit` (at least 1) items whose [`TTL`] attribute is a number at or before
    /// `now` (unix seconds) and returns how many it deleted. Readers check expiry themselves, so
    /// this only reclaims space; callers repeat it while it returns `limit`. Backends that expire
    /// items natively (DynamoDB's time to live on the same attribute) keep this default, which
    /// deletes nothing.
    async fn purge_expired(&self, now: i64, limit: u32) -> Result<u64, StoreError> {
        let _ = (now, limit);
        Ok(0)
    }

    /// A change marker: a value that differs from every earlier answer once any item of the store
    /// may have changed (written by this process or by any other), or `None` when the driver
    /// cannot tell cheaply. Callers may keep data derived from items tagged with the marker read
    /// *before* the items, and reuse it only while the marker is unchanged; with `None` they must
    /// read through. The embedded driver answers from SQLite's data version (one read transaction,
    /// no page reads); the default is `None` (DynamoDB: other writers are invisible).
    fn change_marker(&self) -> Option<u64> {
        None
    }
}

/// Checks the arguments of [`ItemStore::scan`] the same way in every driver.
pub fn check_scan_args(segment: Option<(u32, u32)>, limit: u32) -> Result<(), StoreError> {
    if limit == 0 {
        return Err(StoreError::Invalid("scan limit must be at least 1".into()));
    }
    if let Some((index, total)) = segment
        && (total == 0 || index >= total)
    {
        return Err(StoreError::Invalid(format!("invalid scan segment {index} of {total}")));
    }
    Ok(())
}

/// DynamoDB's item size limit (400 KB). The embedded driver applies it to the JSON form of an item
/// ([`item_size`]), which is never smaller than DynamoDB's own measure (attribute names plus
/// values), so an item within it fits both stores. Services check it before writing client-sized
/// items, to refuse them with a clear error instead of a store failure.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The size of an item as measured against [`MAX_ITEM_BYTES`]: the length of its JSON form.
pub fn item_size(item: &Item) -> usize {
    serde_json::to_vec(&item.0).map(|v| v.len()).unwrap_or(usize::MAX)
}

/// DynamoDB's partition-key size limit, applied by every driver.
pub const MAX_PK_BYTES: usize = 2048;
/// DynamoDB's sort-key size limit, applied by every driver.
pub const MAX_SK_BYTES: usize = 1024;

// Request checks every driver runs before touching its backend (DynamoDB's own rules), so that
// all drivers refuse the same requests with the same errors.

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::Invalid(message.into())
}

fn check_key_part(attr: &str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(invalid(format!("key attribute {attr} is empty")));
    }
    if value.len() > max {
        return Err(invalid(format!("key attribute {attr} is longer than {max} bytes")));
    }
    Ok(())
}

/// Checks a key: both parts non-empty and within DynamoDB's size limits.
pub fn check_key(key: &Key) -> Result<(), StoreError> {
    check_key_part(PK, &key.pk, MAX_PK_BYTES)?;
    check_key_part(SK, &key.sk, MAX_SK_BYTES)
}

/// A key attribute of an item (table or index key): a non-empty string within the size limit
/// when present.
pub fn key_attr<'a>(item: &'a Item, attr: &str) -> Result<Option<&'a str>, StoreError> {
    let max = if attr == PK || Index::ALL.iter().any(|i| i.pk_attr() == attr) { MAX_PK_BYTES } else { MAX_SK_BYTES };
    match item.get(attr) {
        None => Ok(None),
        Some(Value::String(s)) => check_key_part(attr, s, max).map(|()| Some(s.as_str())),
        Some(_) => Err(invalid(format!("key attribute {attr} must be a string"))),
    }
}

/// Checks an item to be written: `pk` and `sk` present, every key attribute valid. Returns its key.
pub fn check_item(item: &Item) -> Result<Key, StoreError> {
    let pk = key_attr(item, PK)?.ok_or_else(|| invalid("item without pk"))?;
    let sk = key_attr(item, SK)?.ok_or_else(|| invalid("item without sk"))?;
    for index in Index::ALL {
        key_attr(item, index.pk_attr())?;
        key_attr(item, index.sk_attr())?;
    }
    Ok(Key::new(pk, sk))
}

/// Whether an attribute is a key attribute of a secondary index.
pub fn is_index_attr(attr: &str) -> bool {
    Index::ALL.iter().any(|i| i.pk_attr() == attr || i.sk_attr() == attr)
}

/// Static checks of an update (DynamoDB rejects these before looking at the item): no empty or
/// repeated attribute names, no key attributes, index attributes only set to non-empty strings.
pub fn check_update(update: &Update) -> Result<(), StoreError> {
    let mut seen = std::collections::HashSet::new();
    let names = update
        .set
        .iter()
        .chain(&update.set_if_absent)
        .map(|(a, _)| a)
        .chain(&update.remove)
        .chain(update.add.iter().map(|(a, _)| a));
    for attr in names {
        if attr.is_empty() {
            return Err(invalid("empty attribute name in update"));
        }
        if attr == PK || attr == SK {
            return Err(invalid(format!("cannot update key attribute {attr}")));
        }
        if !seen.insert(attr.as_str()) {
            return Err(invalid(format!("attribute {attr} appears more than once in one update")));
        }
    }
    for (attr, value) in update.set.iter().chain(&update.set_if_absent) {
        if is_index_attr(attr) && !matches!(value, Value::String(s) if !s.is_empty()) {
            return Err(invalid(format!("index attribute {attr} must be a non-empty string")));
        }
    }
    for (attr, _) in &update.add {
        if is_index_attr(attr) {
            return Err(invalid(format!("index attribute {attr} must be a string")));
        }
    }
    Ok(())
}

/// Static checks of a transaction (size, every operation, one operation per item); returns the
/// key of every operation, in order.
pub fn check_transaction(ops: &[TxOp]) -> Result<Vec<Key>, StoreError> {
    if ops.len() > MAX_TX_OPS {
        return Err(invalid(format!("a transaction holds at most {MAX_TX_OPS} operations, got {}", ops.len())));
    }
    let mut keys = Vec::with_capacity(ops.len());
    let mut seen = std::collections::HashSet::with_capacity(ops.len());
    for op in ops {
        let key = match op {
            TxOp::Put { item, .. } => check_item(item)?,
            TxOp::Update { key, update, .. } => {
                check_update(update)?;
                key.clone()
            }
            TxOp::Delete { key, .. } | TxOp::Check { key, .. } => key.clone(),
        };
        check_key(&key)?;
        if !seen.insert(key.clone()) {
            return Err(invalid(format!("two operations on one item in a transaction: {}/{}", key.pk, key.sk)));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// Queries every page of a query and returns all items. Use only on partitions known to be bounded.
pub async fn query_all(store: &dyn ItemStore, query: &Query) -> Result<Vec<Item>, StoreError> {
    let mut q = query.clone();
    let mut items = Vec::new();
    loop {
        let page = store.query(&q).await?;
        items.extend(page.items);
        match page.cursor {
            Some(c) => q.cursor = Some(c),
            None => return Ok(items),
        }
    }
}

#[cfg(test)]
mod checks_tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn update_checks() {
        let refused = |u: Update| matches!(check_update(&u), Err(StoreError::Invalid(_)));
        assert!(refused(Update::new().set("pk", "x")));
        assert!(refused(Update::new().remove("sk")));
        assert!(refused(Update::new().set("a", 1).add("a", 1)));
        assert!(refused(Update::new().set("", 1)));
        assert!(refused(Update::new().set("gsi1pk", 1)));
        assert!(refused(Update::new().set("gsi2sk", "")));
        assert!(refused(Update::new().add("gsi1sk", 1)));
        assert!(check_update(&Update::new().set("gsi2sk", "x").add("n", 1).remove("r")).is_ok());
    }

    #[test]
    fn item_and_key_checks() {
        let item = |v: Value| match v {
            Value::Object(map) => Item(map),
            _ => Item(Map::new()),
        };
        assert_eq!(check_item(&item(json!({"pk": "P", "sk": "S"}))).ok(), Some(Key::new("P", "S")));
        for bad in [
            json!({"sk": "S"}),
            json!({"pk": "P"}),
            json!({"pk": "", "sk": "S"}),
            json!({"pk": "P", "sk": 1}),
            json!({"pk": "P", "sk": "S", "gsi1pk": ""}),
            json!({"pk": "P", "sk": "S", "gsi2sk": 7}),
            json!({"pk": "P".repeat(MAX_PK_BYTES + 1), "sk": "S"}),
            json!({"pk": "P", "sk": "S".repeat(MAX_SK_BYTES + 1)}),
        ] {
            assert!(matches!(check_item(&item(bad.clone())), Err(StoreError::Invalid(_))), "{bad}");
        }
        assert!(check_key(&Key::new("P".repeat(MAX_PK_BYTES), "S".repeat(MAX_SK_BYTES))).is_ok());
        assert!(check_key(&Key::new("P", "")).is_err());
    }

    #[test]
    fn transaction_checks() {
        let key = Key::new("P", "S");
        let put = |k: &Key| TxOp::Put {
            item: Item(Map::from_iter([(PK.to_owned(), json!(k.pk)), (SK.to_owned(), json!(k.sk))])),
            condition: None,
        };
        assert!(check_transaction(&[put(&key), TxOp::Delete { key: key.clone(), condition: None }]).is_err());
        let many: Vec<TxOp> = (0..=MAX_TX_OPS).map(|i| put(&Key::new("P", format!("{i}")))).collect();
        assert!(matches!(check_transaction(&many), Err(StoreError::Invalid(_))));
        let keys = check_transaction(&many[..MAX_TX_OPS]);
        assert_eq!(keys.map(|k| k.len()).ok(), Some(MAX_TX_OPS));
    }
}
