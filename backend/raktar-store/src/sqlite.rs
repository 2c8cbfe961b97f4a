//! The embedded item store: one SQLite file (WAL mode) holding the single table.
//!
//! Layout: one table `items(pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, data)` keyed by `(pk, sk)`,
//! with partial indexes for the two secondary indexes; `data` is the whole item as compact JSON.
//! The index columns are filled only when the item carries both index attributes (a sparse index,
//! as in DynamoDB).
//!
//! Concurrency: one writer connection behind a mutex (writes with conditions and transactions run
//! inside one `BEGIN IMMEDIATE` transaction on it) plus a small pool of reader connections. WAL
//! lets readers run while a write is in progress, and `busy_timeout` lets other processes (CLI
//! commands) open the same file while the server runs.
//!
//! Threading: reads run inline on the calling task (microseconds; WAL readers never wait for
//! writers), followed by `consume_budget` so loops of store calls still yield; `block_in_place`
//! on reads made tokio hand its other tasks to a fresh thread on every read, which doubled the CPU
//! per index request under load (see docs/performance.md). Writes run inside
//! `tokio::task::block_in_place` on a multi-thread runtime (a write may wait for the file lock of
//! another process), else on the blocking pool.

use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use raktar_core::store::item::{
    CancelReason, Condition, Index, Item, ItemStore, Key, MAX_ITEM_BYTES, PK, Page, Query, SK, SortKey, StoreError,
    TxOp, Update, check_item, check_key, check_transaction, check_update, key_attr,
};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params, params_from_iter};
use serde_json::{Map, Number, Value};
use tokio::runtime::RuntimeFlavor;

/// How long a connection waits for a lock held by another connection or process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Reader connections kept open for reuse.
const IDLE_READERS: usize = 8;
/// Prepared statements cached per connection (query shapes vary by index, condition, direction).
const STATEMENT_CACHE: usize = 64;
/// `PRAGMA user_version` of the schema this driver writes.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    gsi2pk TEXT,
    gsi2sk TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_ttl ON items (json_extract(data, '$.ttl')) WHERE json_extract(data, '$.ttl') IS NOT NULL;
";

const SELECT_ONE: &str = "SELECT data FROM items WHERE pk = ?1 AND sk = ?2";
const UPSERT: &str =
    "INSERT OR REPLACE INTO items (pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const DELETE_ONE: &str = "DELETE FROM items WHERE pk = ?1 AND sk = ?2";
/// Expired items, oldest first, through the partial `items_ttl` index (text `ttl` values sort after
/// every number in SQLite and are never expired).
const DELETE_EXPIRED: &str = "DELETE FROM items WHERE (pk, sk) IN (
    SELECT pk, sk FROM items
    WHERE json_extract(data, '$.ttl') IS NOT NULL AND json_extract(data, '$.ttl') <= ?1
    ORDER BY json_extract(data, '$.ttl') LIMIT ?2)";

/// The embedded [`ItemStore`] on one SQLite file.
#[derive(Clone)]
pub struct SqliteItemStore {
    inner: Arc<Inner>,
}

struct Inner {
    description: String,
    writer: Mutex<Connection>,
    /// `None` for an in-memory database, which only has the writer connection.
    readers: Option<Readers>,
    /// Source of [`ItemStore::change_marker`].
    changes: ChangeWatch,
}

/// Size of the WAL-index header at the start of the `-shm` file: two copies of a 48-byte header
/// (see SQLite's `walformat.html`). Every commit rewrites it: its change counter, last frame and
/// checksums (and after a WAL reset its salts) differ, and new readers find the commit through it.
const WAL_INDEX_HEADER: usize = 96;
/// How often the marker also asks SQLite itself (`PRAGMA data_version`), in case the WAL-index
/// file was replaced or its header did not tell.
const SAFETY_CHECK: Duration = Duration::from_secs(1);
/// Replaced `-shm` files whose descriptors are kept open before reopening stops.
const MAX_RETIRED_SHM: usize = 16;

/// Source of [`ItemStore::change_marker`] for a database file.
///
/// Fast path: read the WAL-index header from the `-shm` file (one `pread`, no lock) and compare
/// it with the last header seen; any difference moves the marker. A commit becomes visible to new
/// readers exactly when this header is rewritten, so a header read before some data read that
/// still equals the last one seen proves no commit became visible in between. Each answer that
/// sees a header other than the last one moves the marker, so interleaved callers can only move
/// it more often than needed, never less.
///
/// Safety net, at most once per [`SAFETY_CHECK`] and whenever the header cannot be read:
/// `PRAGMA data_version` on a watcher connection that never writes (it changes whenever any other
/// connection commits), which also reopens the `-shm` file.
///
/// The in-memory database has only the writer, so there every write moves the marker instead.
struct ChangeWatch {
    /// `None` for an in-memory database.
    path: Option<PathBuf>,
    /// The `-shm` file, opened read-only (`None` until it can be opened).
    shm: RwLock<Option<std::fs::File>>,
    /// Descriptors of replaced `-shm` files, kept open (see [`ChangeWatch::reopen_shm`]).
    retired_shm: Mutex<Vec<std::fs::File>>,
    /// The last WAL-index header seen, and the marker.
    state: Mutex<WatchState>,
    /// Idle watcher connections with the data version each saw last.
    idle: Mutex<Vec<(Connection, i64)>>,
}

struct WatchState {
    header: [u8; WAL_INDEX_HEADER],
    marker: u64,
    safety_checked: Option<Instant>,
}

impl ChangeWatch {
    fn new(path: Option<&Path>) -> Self {
        let watch = Self {
            path: path.map(Path::to_path_buf),
            shm: RwLock::new(None),
            retired_shm: Mutex::new(Vec::new()),
            state: Mutex::new(WatchState { header: [0; WAL_INDEX_HEADER], marker: 0, safety_checked: None }),
            idle: Mutex::new(Vec::new()),
        };
        watch.reopen_shm();
        watch
    }

    fn marker(&self) -> Option<u64> {
        let Some(path) = &self.path else { return Some(lock(&self.state).marker) };
        let mut header = [0u8; WAL_INDEX_HEADER];
        let read = match self.shm.read() {
            Ok(shm) => shm.as_ref().is_some_and(|f| f.read_exact_at(&mut header, 0).is_ok()),
            Err(_) => false,
        };
        let safety_due = {
            let mut state = lock(&self.state);
            if read && state.header != header {
                state.header = header;
                state.marker += 1;
            }
            !read || state.safety_checked.is_none_or(|t| t.elapsed() >= SAFETY_CHECK)
        };
        if safety_due {
            let changed = self.data_version_changed(path)?;
            let mut state = lock(&self.state);
            state.safety_checked = Some(Instant::now());
            if changed {
                state.marker += 1;
                drop(state);
                self.reopen_shm();
            }
        }
        Some(lock(&self.state).marker)
    }

    /// Whether `PRAGMA data_version` on a watcher connection changed since that connection's
    /// previous look (a new watcher counts as a change). `None` when SQLite cannot answer.
    fn data_version_changed(&self, path: &Path) -> Option<bool> {
        let pooled = lock(&self.idle).pop();
        let (conn, last) = match pooled {
            Some(watcher) => watcher,
            None => match open_reader(path) {
                Ok(conn) => (conn, -1),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open a sqlite change watcher; caches read through");
                    return None;
                }
            },
        };
        let version = conn.prepare_cached("PRAGMA data_version").and_then(|mut st| st.query_row([], |row| row.get(0)));
        let version: i64 = match version {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "sqlite data_version failed; caches read through");
                return None;
            }
        };
        let mut idle = lock(&self.idle);
        if idle.len() < IDLE_READERS {
            idle.push((conn, version));
        }
        Some(version != last)
    }

    /// Opens the `-shm` file when it is not open yet, or when the file at its path is another one
    /// (replaced) than the one held.
    ///
    /// A descriptor of the `-shm` file is never closed while this process runs: closing ANY
    /// descriptor of a file drops every POSIX record lock this process holds on it, SQLite's
    /// included. Without its shared lock on the `-shm` file, another process (an admin command,
    /// a backup) opening the database believes it is alone, truncates the WAL index and this
    /// process dies of SIGBUS in the middle of a query. A replaced file's old descriptor is kept
    /// (a handful at most: the file is replaced only when every connection closed).
    fn reopen_shm(&self) {
        use std::os::unix::fs::MetadataExt;
        let Some(path) = &self.path else { return };
        let mut shm_path = path.clone().into_os_string();
        shm_path.push("-shm");
        let Ok(on_disk) = std::fs::metadata(&shm_path) else { return };
        let Ok(mut shm) = self.shm.write() else { return };
        if let Some(held) = shm.as_ref()
            && held.metadata().is_ok_and(|m| m.dev() == on_disk.dev() && m.ino() == on_disk.ino())
        {
            return;
        }
        let mut retired = lock(&self.retired_shm);
        if retired.len() >= MAX_RETIRED_SHM {
            // Keep reading the file held; the data-version safety net still sees every change.
            return;
        }
        if let Ok(file) = std::fs::File::open(&shm_path)
            && let Some(old) = shm.replace(file)
        {
            retired.push(old);
        }
    }

    fn written(&self) {
        if self.path.is_none() {
            lock(&self.state).marker += 1;
        }
    }
}

struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteItemStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteItemStore").field("db", &self.inner.description).finish_non_exhaustive()
    }
}

impl SqliteItemStore {
    /// Opens (creating when needed) the store file at `path` and its schema. Other processes may
    /// open the same file at the same time.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Backend(format!("creating {}: {e}", parent.display())))?;
        }
        let mut writer = open_connection(path)?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!("{}: cannot switch to WAL mode (got {mode})", path.display())));
        }
        init_schema(&mut writer)?;
        tracing::debug!(path = %path.display(), "opened sqlite item store");
        Ok(Self {
            inner: Arc::new(Inner {
                description: format!("sqlite:{}", path.display()),
                writer: Mutex::new(writer),
                readers: Some(Readers { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) }),
                changes: ChangeWatch::new(Some(path)),
            }),
        })
    }

    /// Opens a private in-memory store (for tests); it lives as long as the value and its clones.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let mut writer = Connection::open_in_memory().map_err(db)?;
        writer.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        init_schema(&mut writer)?;
        Ok(Self {
            inner: Arc::new(Inner {
                description: "sqlite::memory:".into(),
                writer: Mutex::new(writer),
                readers: None,
                changes: ChangeWatch::new(None),
            }),
        })
    }

    /// Runs a read on a reader connection, inline on the calling thread: WAL readers never wait
    /// for writers and a point read takes microseconds. (`block_in_place` here made the runtime
    /// hand its other tasks to a fresh thread on every read: under the index benchmark that was
    /// hundreds of threads and twice the CPU per request.)
    async fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let result = self.inner.read(f);
        tokio::task::consume_budget().await;
        result
    }

    /// Runs a write on the writer connection: on the calling thread on a multi-thread runtime,
    /// else on tokio's blocking pool (a write may wait for another process's lock).
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        if can_block_in_place() {
            let result = tokio::task::block_in_place(|| self.inner.write(f));
            tokio::task::consume_budget().await;
            return result;
        }
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.write(f))
            .await
            .map_err(|e| StoreError::Backend(format!("sqlite write task failed: {e}")))?
    }
}

/// Whether `block_in_place` is allowed here (a multi-thread runtime; see the module docs).
fn can_block_in_place() -> bool {
    tokio::runtime::Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
}

impl Inner {
    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let result = f(&mut lock(&self.writer));
        // In memory (no watcher connections): any write attempt may have changed items.
        self.changes.written();
        result
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let Some(readers) = &self.readers else {
            return f(&lock(&self.writer));
        };
        let pooled = lock(&readers.idle).pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_reader(&readers.path)?,
        };
        let result = f(&conn);
        let mut idle = lock(&readers.idle);
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }
}

/// Locks a mutex, recovering from poisoning: a panic inside a SQLite transaction rolls it back (the
/// transaction guard's drop), so the connection is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("sqlite: {e}"))
}

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::Invalid(message.into())
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch("PRAGMA synchronous = NORMAL;").map_err(db)?;
    Ok(conn)
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = open_connection(path)?;
    conn.execute_batch("PRAGMA query_only = ON;").map_err(db)?;
    tracing::trace!(path = %path.display(), "opened sqlite reader connection");
    Ok(conn)
}

fn init_schema(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(db)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Backend(format!(
            "store schema version {version} is newer than this binary supports ({SCHEMA_VERSION})"
        )));
    }
    tx.execute_batch(SCHEMA).map_err(db)?;
    if version < SCHEMA_VERSION {
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};")).map_err(db)?;
    }
    tx.commit().map_err(db)
}

// ----------------------------------------------------------------------------------------------
// Items, keys and rows

/// The columns of one stored item.
struct Row {
    pk: String,
    sk: String,
    gsi: [Option<(String, String)>; 2],
    data: String,
}

/// Validates an item and computes its row.
fn row_of(item: &Item) -> Result<Row, StoreError> {
    let Key { pk, sk } = check_item(item)?;
    let mut gsi = [None, None];
    for (slot, index) in gsi.iter_mut().zip(Index::ALL) {
        let ipk = key_attr(item, index.pk_attr())?;
        let isk = key_attr(item, index.sk_attr())?;
        if let (Some(ipk), Some(isk)) = (ipk, isk) {
            *slot = Some((ipk.to_owned(), isk.to_owned()));
        }
    }
    let data = serde_json::to_string(&item.0).map_err(|e| StoreError::Serialization(e.to_string()))?;
    if data.len() > MAX_ITEM_BYTES {
        return Err(invalid(format!("item {pk}/{sk} is larger than {MAX_ITEM_BYTES} bytes")));
    }
    Ok(Row { pk, sk, gsi, data })
}

fn parse_item(data: ValueRef<'_>) -> Result<Item, StoreError> {
    let text = data.as_str().map_err(|e| StoreError::Serialization(format!("stored item: {e}")))?;
    serde_json::from_str::<Map<String, Value>>(text)
        .map(Item)
        .map_err(|e| StoreError::Serialization(format!("stored item: {e}")))
}

fn load(conn: &Connection, key: &Key) -> Result<Option<Item>, StoreError> {
    let mut stmt = conn.prepare_cached(SELECT_ONE).map_err(db)?;
    let mut rows = stmt.query(params![key.pk, key.sk]).map_err(db)?;
    match rows.next().map_err(db)? {
        Some(row) => parse_item(row.get_ref(0).map_err(db)?).map(Some),
        None => Ok(None),
    }
}

fn store_row(conn: &Connection, row: &Row) -> Result<(), StoreError> {
    let [g1, g2] = &row.gsi;
    let (g1pk, g1sk) = g1.as_ref().map(|(p, s)| (Some(p), Some(s))).unwrap_or_default();
    let (g2pk, g2sk) = g2.as_ref().map(|(p, s)| (Some(p), Some(s))).unwrap_or_default();
    let mut stmt = conn.prepare_cached(UPSERT).map_err(db)?;
    stmt.execute(params![row.pk, row.sk, g1pk, g1sk, g2pk, g2sk, row.data]).map_err(db)?;
    Ok(())
}

fn remove_row(conn: &Connection, key: &Key) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(DELETE_ONE).map_err(db)?;
    stmt.execute(params![key.pk, key.sk]).map_err(db)?;
    Ok(())
}

// ----------------------------------------------------------------------------------------------
// Conditions and updates

/// Evaluates a condition against the current item (DynamoDB semantics).
fn holds(condition: &Condition, current: Option<&Item>) -> bool {
    match condition {
        Condition::Exists => current.is_some(),
        Condition::NotExists => current.is_none(),
        Condition::AttrEquals(attr, value) => current.and_then(|i| i.get(attr)).is_some_and(|v| json_eq(v, value)),
        Condition::AttrNotExists(attr) => current.is_some_and(|i| i.get(attr).is_none()),
        Condition::All(parts) => parts.iter().all(|c| holds(c, current)),
    }
}

/// JSON equality where numbers compare by value (1 == 1.0), like DynamoDB numbers.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_eq(x, y),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn number_eq(x: &Number, y: &Number) -> bool {
    match (as_i128(x), as_i128(y)) {
        (Some(a), Some(b)) => a == b,
        _ => matches!((x.as_f64(), y.as_f64()), (Some(a), Some(b)) if a == b),
    }
}

fn as_i128(n: &Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

/// Applies an update to the current item (or a new item with just its key).
fn apply_update(key: &Key, current: Option<Item>, update: &Update) -> Result<Item, StoreError> {
    let mut map = match current {
        Some(Item(map)) => map,
        None => {
            let mut map = Map::new();
            map.insert(PK.into(), Value::String(key.pk.clone()));
            map.insert(SK.into(), Value::String(key.sk.clone()));
            map
        }
    };
    for (attr, value) in &update.set {
        map.insert(attr.clone(), value.clone());
    }
    for (attr, value) in &update.set_if_absent {
        map.entry(attr.clone()).or_insert_with(|| value.clone());
    }
    for attr in &update.remove {
        map.remove(attr);
    }
    for (attr, delta) in &update.add {
        let sum = match map.get(attr) {
            None => Value::from(*delta),
            Some(Value::Number(n)) => add_number(attr, n, *delta)?,
            Some(_) => return Err(invalid(format!("cannot add to attribute {attr}: not a number"))),
        };
        map.insert(attr.clone(), sum);
    }
    Ok(Item(map))
}

fn add_number(attr: &str, n: &Number, delta: i64) -> Result<Value, StoreError> {
    let overflow = || invalid(format!("adding {delta} to attribute {attr} overflows"));
    if let Some(current) = as_i128(n) {
        let sum = current + i128::from(delta);
        return match (i64::try_from(sum), u64::try_from(sum)) {
            (Ok(v), _) => Ok(Value::from(v)),
            (_, Ok(v)) => Ok(Value::from(v)),
            _ => Err(overflow()),
        };
    }
    #[allow(clippy::cast_precision_loss)] // a float counter is already imprecise
    let sum = n.as_f64().map(|f| f + delta as f64);
    sum.and_then(Number::from_f64).map(Value::Number).ok_or_else(overflow)
}

fn condition_failed_unless(condition: Option<&Condition>, current: Option<&Item>) -> Result<(), StoreError> {
    match condition {
        Some(c) if !holds(c, current) => Err(StoreError::ConditionFailed),
        _ => Ok(()),
    }
}

// ----------------------------------------------------------------------------------------------
// Write operations (on the writer connection)

fn put_item(conn: &mut Connection, row: &Row, condition: Option<&Condition>) -> Result<(), StoreError> {
    let Some(condition) = condition else {
        return store_row(conn, row);
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let current = load(&tx, &Key::new(row.pk.as_str(), row.sk.as_str()))?;
    condition_failed_unless(Some(condition), current.as_ref())?;
    store_row(&tx, row)?;
    tx.commit().map_err(db)
}

fn update_item(
    conn: &mut Connection,
    key: &Key,
    update: &Update,
    condition: Option<&Condition>,
) -> Result<Item, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let current = load(&tx, key)?;
    condition_failed_unless(condition, current.as_ref())?;
    let item = apply_update(key, current, update)?;
    store_row(&tx, &row_of(&item)?)?;
    tx.commit().map_err(db)?;
    Ok(item)
}

fn delete_item(conn: &mut Connection, key: &Key, condition: Option<&Condition>) -> Result<(), StoreError> {
    let Some(condition) = condition else {
        return remove_row(conn, key);
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let current = load(&tx, key)?;
    condition_failed_unless(Some(condition), current.as_ref())?;
    remove_row(&tx, key)?;
    tx.commit().map_err(db)
}

enum Write<'a> {
    Put(Row),
    Delete(&'a Key),
}

fn transact_items(conn: &mut Connection, ops: &[TxOp], keys: &[Key]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let mut reasons: Vec<Option<CancelReason>> = vec![None; ops.len()];
    let mut writes = Vec::with_capacity(ops.len());
    for (i, (op, key)) in ops.iter().zip(keys).enumerate() {
        let current = load(&tx, key)?;
        let condition = match op {
            TxOp::Put { condition, .. } | TxOp::Update { condition, .. } | TxOp::Delete { condition, .. } => {
                condition.as_ref()
            }
            TxOp::Check { condition, .. } => Some(condition),
        };
        if condition.is_some_and(|c| !holds(c, current.as_ref())) {
            reasons[i] = Some(CancelReason::ConditionFailed);
            continue;
        }
        match op {
            TxOp::Put { item, .. } => writes.push(Write::Put(row_of(item)?)),
            TxOp::Update { key, update, .. } => match apply_update(key, current, update).and_then(|it| row_of(&it)) {
                Ok(row) => writes.push(Write::Put(row)),
                Err(StoreError::Invalid(message)) => {
                    reasons[i] = Some(CancelReason::Other(format!("ValidationError: {message}")));
                }
                Err(e) => return Err(e),
            },
            TxOp::Delete { key, .. } => writes.push(Write::Delete(key)),
            TxOp::Check { .. } => {}
        }
    }
    if reasons.iter().any(Option::is_some) {
        tracing::debug!(?reasons, "sqlite transaction cancelled");
        return Err(StoreError::TransactionCanceled { reasons });
    }
    for write in &writes {
        match write {
            Write::Put(row) => store_row(&tx, row)?,
            Write::Delete(key) => remove_row(&tx, key)?,
        }
    }
    tx.commit().map_err(db)
}

// ----------------------------------------------------------------------------------------------
// Queries

/// The smallest string greater than every string starting with `prefix` (`None`: no such bound).
/// UTF-8 byte order is code point order, so this is the prefix with its last character bumped.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// The position after the last item of a page: the item's sort key for a table query; index sort
/// key, pk and sk for an index query (index sort keys are not unique).
fn encode_cursor(index: Option<Index>, last: &Item) -> Result<String, StoreError> {
    let attr = |name: &str| {
        last.get_str(name)
            .map(|s| Value::String(s.to_owned()))
            .ok_or_else(|| StoreError::Backend(format!("stored item without {name}")))
    };
    let position = match index {
        None => vec![attr(SK)?],
        Some(index) => vec![attr(index.sk_attr())?, attr(PK)?, attr(SK)?],
    };
    let cursor = serde_json::json!({ "i": index.map(Index::name), "k": position });
    Ok(URL_SAFE_NO_PAD.encode(cursor.to_string()))
}

fn decode_cursor(index: Option<Index>, cursor: &str) -> Result<Vec<String>, StoreError> {
    let bad = || invalid("invalid query cursor");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if value.get("i").and_then(Value::as_str) != index.map(Index::name) {
        return Err(invalid("query cursor belongs to another index"));
    }
    let position: Vec<String> = value
        .get("k")
        .and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
        .collect::<Result<_, _>>()?;
    let expected = if index.is_some() { 3 } else { 1 };
    if position.len() != expected {
        return Err(bad());
    }
    Ok(position)
}

fn run_query(conn: &Connection, query: &Query) -> Result<Page, StoreError> {
    if query.pk.is_empty() {
        return Err(invalid("query with an empty partition key"));
    }
    if query.limit == Some(0) {
        return Err(invalid("query limit must be at least 1"));
    }
    let (pk_col, sk_col) = match query.index {
        None => (PK, SK),
        Some(index) => (index.pk_attr(), index.sk_attr()),
    };
    let mut sql = format!("SELECT data FROM items WHERE {pk_col} = ?");
    let mut args = vec![SqlValue::Text(query.pk.clone())];
    let mut bound = |sql: &mut String, op: &str, value: &str| {
        sql.push_str(&format!(" AND {sk_col} {op} ?"));
        args.push(SqlValue::Text(value.to_owned()));
    };
    match &query.sk {
        SortKey::Any => {}
        SortKey::Prefix(prefix) => {
            if !prefix.is_empty() {
                bound(&mut sql, ">=", prefix);
                if let Some(upper) = prefix_successor(prefix) {
                    bound(&mut sql, "<", &upper);
                }
            }
        }
        SortKey::Between(from, to) => {
            bound(&mut sql, ">=", from);
            bound(&mut sql, "<=", to);
        }
        SortKey::From(from) => bound(&mut sql, ">=", from),
        SortKey::UpTo(to) => bound(&mut sql, "<=", to),
    }
    let (after, order) = if query.forward { (">", "ASC") } else { ("<", "DESC") };
    if let Some(cursor) = &query.cursor {
        let position = decode_cursor(query.index, cursor)?;
        match query.index {
            None => sql.push_str(&format!(" AND sk {after} ?")),
            Some(_) => sql.push_str(&format!(" AND ({sk_col}, pk, sk) {after} (?, ?, ?)")),
        }
        args.extend(position.into_iter().map(SqlValue::Text));
    }
    match query.index {
        None => sql.push_str(&format!(" ORDER BY sk {order}")),
        Some(_) => sql.push_str(&format!(" ORDER BY {sk_col} {order}, pk {order}, sk {order}")),
    }
    // One row more than the limit tells whether another page follows.
    sql.push_str(" LIMIT ?");
    args.push(SqlValue::Integer(query.limit.map_or(-1, |l| i64::from(l) + 1)));

    let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
    let mut rows = stmt.query(params_from_iter(args.iter())).map_err(db)?;
    let mut items = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        items.push(parse_item(row.get_ref(0).map_err(db)?)?);
    }
    let mut cursor = None;
    if let Some(limit) = query.limit.map(|l| l as usize)
        && items.len() > limit
    {
        items.truncate(limit);
        if let Some(last) = items.last() {
            cursor = Some(encode_cursor(query.index, last)?);
        }
    }
    Ok(Page { items, cursor })
}

// Scans

/// Most rows one page of a segmented scan examines (rows of other segments are skipped, so a page
/// may hold fewer items than its limit; the cursor then points after the last row examined).
const SCAN_EXAMINE_MAX: u32 = 10_000;

/// The segment of a partition key among `total` (FNV-1a: stable across processes and versions). All
/// items of a partition fall in one segment.
fn scan_segment(pk: &str, total: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in pk.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % total
}

/// A scan cursor: the key of the last row examined, `{"scan": [pk, sk]}` as URL-safe base64.
fn encode_scan_cursor(pk: &str, sk: &str) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::json!({ "scan": [pk, sk] }).to_string())
}

fn decode_scan_cursor(cursor: &str) -> Result<(String, String), StoreError> {
    let bad = || invalid("invalid scan cursor");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    match value.get("scan").and_then(Value::as_array).map(Vec::as_slice) {
        Some([Value::String(pk), Value::String(sk)]) => Ok((pk.clone(), sk.clone())),
        _ => Err(bad()),
    }
}

/// One page of a scan in `(pk, sk)` order (the primary key order of the table).
fn run_scan(
    conn: &Connection,
    segment: Option<(u32, u32)>,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page, StoreError> {
    let after = cursor.map(decode_scan_cursor).transpose()?;
    let filter = segment.filter(|&(_, total)| total > 1);
    // One row more than the page may examine tells whether another page follows.
    let examine = if filter.is_some() { limit.max(SCAN_EXAMINE_MAX) } else { limit };
    let mut sql = String::from("SELECT pk, sk, data FROM items");
    let mut args = Vec::new();
    if let Some((pk, sk)) = after {
        sql.push_str(" WHERE (pk, sk) > (?, ?)");
        args.push(SqlValue::Text(pk));
        args.push(SqlValue::Text(sk));
    }
    sql.push_str(" ORDER BY pk, sk LIMIT ?");
    args.push(SqlValue::Integer(i64::from(examine) + 1));

    let mut stmt = conn.prepare_cached(&sql).map_err(db)?;
    let mut rows = stmt.query(params_from_iter(args.iter())).map_err(db)?;
    let mut items = Vec::new();
    let mut examined = 0u32;
    let mut last: Option<(String, String)> = None;
    let mut more = false;
    while let Some(row) = rows.next().map_err(db)? {
        if examined == examine || items.len() == limit as usize {
            more = true;
            break;
        }
        examined += 1;
        let pk: String = row.get(0).map_err(db)?;
        let sk: String = row.get(1).map_err(db)?;
        if filter.is_none_or(|(index, total)| scan_segment(&pk, total) == index) {
            items.push(parse_item(row.get_ref(2).map_err(db)?)?);
        }
        last = Some((pk, sk));
    }
    let cursor = match (more, last) {
        (true, Some((pk, sk))) => Some(encode_scan_cursor(&pk, &sk)),
        _ => None,
    };
    Ok(Page { items, cursor })
}

// ----------------------------------------------------------------------------------------------
// The port

#[async_trait]
impl ItemStore for SqliteItemStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        check_key(key)?;
        self.read(|conn| load(conn, key)).await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.read(|conn| run_query(conn, query)).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let row = row_of(&item)?;
        self.write(move |conn| put_item(conn, &row, condition.as_ref())).await
    }

    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError> {
        check_key(key)?;
        check_update(&update)?;
        let key = key.clone();
        self.write(move |conn| update_item(conn, &key, &update, condition.as_ref())).await
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        check_key(key)?;
        let key = key.clone();
        self.write(move |conn| delete_item(conn, &key, condition.as_ref())).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        let keys = check_transaction(&ops)?;
        if ops.is_empty() {
            return Ok(());
        }
        self.write(move |conn| transact_items(conn, &ops, &keys)).await
    }

    /// Pages in `(pk, sk)` order; the cursor is the last key examined. Segments split the table by
    /// a hash of the partition key (see [`scan_segment`]).
    async fn scan(&self, segment: Option<(u32, u32)>, cursor: Option<String>, limit: u32) -> Result<Page, StoreError> {
        raktar_core::store::item::check_scan_args(segment, limit)?;
        self.read(|conn| run_scan(conn, segment, cursor.as_deref(), limit)).await
    }

    fn describe(&self) -> String {
        self.inner.description.clone()
    }

    fn change_marker(&self) -> Option<u64> {
        self.inner.changes.marker()
    }

    async fn purge_expired(&self, now: i64, limit: u32) -> Result<u64, StoreError> {
        if limit == 0 {
            return Err(invalid("purge limit must be at least 1"));
        }
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(DELETE_EXPIRED).map_err(db)?;
            let deleted = stmt.execute(params![now, limit]).map_err(db)?;
            Ok(deleted as u64)
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn item(pk: &str, sk: &str, attrs: Value) -> Item {
        let mut map = attrs.as_object().cloned().unwrap();
        map.insert(PK.into(), json!(pk));
        map.insert(SK.into(), json!(sk));
        Item(map)
    }

    #[test]
    fn prefix_successor_bumps_the_last_character() {
        assert_eq!(prefix_successor("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10FFFF}\u{10FFFF}"), None);
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("\u{7F}").as_deref(), Some("\u{80}"));
    }

    #[test]
    fn conditions_follow_dynamodb() {
        let it = item("p", "s", json!({"n": 1, "f": 1.5, "l": [1, 2.0], "m": {"a": 1}}));
        assert!(holds(&Condition::AttrEquals("n".into(), json!(1.0)), Some(&it)));
        assert!(holds(&Condition::AttrEquals("f".into(), json!(1.5)), Some(&it)));
        assert!(holds(&Condition::AttrEquals("l".into(), json!([1.0, 2])), Some(&it)));
        assert!(holds(&Condition::AttrEquals("m".into(), json!({"a": 1.0})), Some(&it)));
        assert!(!holds(&Condition::AttrEquals("n".into(), json!("1")), Some(&it)));
        assert!(!holds(&Condition::AttrEquals("n".into(), json!(1)), None));
        assert!(!holds(&Condition::AttrNotExists("x".into()), None));
        assert!(holds(&Condition::AttrNotExists("x".into()), Some(&it)));
        assert!(holds(&Condition::All(vec![]), None));
    }

    #[test]
    fn add_handles_large_and_float_counters() {
        let key = Key::new("p", "s");
        let it = item("p", "s", json!({"big": i64::MAX, "f": 0.5}));
        let out = apply_update(&key, Some(it.clone()), &Update::new().add("big", 1).add("f", 2)).unwrap();
        assert_eq!(out.get("big"), Some(&json!(9_223_372_036_854_775_808_u64)));
        assert_eq!(out.get("f"), Some(&json!(2.5)));
        let at_max = item("p", "s", json!({"n": u64::MAX}));
        assert!(matches!(apply_update(&key, Some(at_max), &Update::new().add("n", 1)), Err(StoreError::Invalid(_))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn change_marker_is_stable_until_any_connection_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raktar.db");
        let server = SqliteItemStore::open(&path).unwrap();
        // Another process (a CLI command) on the same file.
        let cli = SqliteItemStore::open(&path).unwrap();
        let m0 = server.change_marker().unwrap();
        server.get(&Key::new("P", "A")).await.unwrap();
        assert_eq!(server.change_marker(), Some(m0), "reads do not move the marker");
        cli.put(item("P", "A", json!({})), None).await.unwrap();
        let m1 = server.change_marker().unwrap();
        assert_ne!(m1, m0, "a write by another connection moves the marker");
        assert_eq!(server.change_marker(), Some(m1));
        server.put(item("P", "B", json!({})), None).await.unwrap();
        assert_ne!(server.change_marker(), Some(m1), "a write by this store moves the marker");
    }

    /// The fast path of the change marker: every commit, from any connection, rewrites the
    /// WAL-index header; reads leave it alone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_commit_rewrites_the_wal_index_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raktar.db");
        let server = SqliteItemStore::open(&path).unwrap();
        let cli = SqliteItemStore::open(&path).unwrap();
        let shm = std::fs::File::open(dir.path().join("raktar.db-shm")).unwrap();
        let header = || {
            let mut h = [0u8; WAL_INDEX_HEADER];
            shm.read_exact_at(&mut h, 0).unwrap();
            h
        };
        let mut seen = vec![header()];
        for i in 0..5 {
            let writer = if i % 2 == 0 { &server } else { &cli };
            writer.put(item("P", &format!("{i}"), json!({})), None).await.unwrap();
            let before = header();
            server.get(&Key::new("P", "0")).await.unwrap();
            cli.query(&Query::partition("P")).await.unwrap();
            assert_eq!(header(), before, "reads must not rewrite the header");
            assert!(!seen.contains(&before), "commit {i} did not change the header");
            seen.push(before);
        }
        // An update of the same item and a delete are commits too.
        server.update(&Key::new("P", "0"), Update::new().set("a", 1), None).await.unwrap();
        assert!(!seen.contains(&header()));
        seen.push(header());
        cli.delete(&Key::new("P", "0"), None).await.unwrap();
        assert!(!seen.contains(&header()));
    }

    #[tokio::test]
    async fn in_memory_store_works() {
        let store = SqliteItemStore::open_in_memory().unwrap();
        assert_eq!(store.describe(), "sqlite::memory:");
        let it = item("P", "A", json!({"type": "T"}));
        store.put(it.clone(), Some(Condition::NotExists)).await.unwrap();
        assert_eq!(store.get(&Key::new("P", "A")).await.unwrap(), Some(it.clone()));
        assert_eq!(store.query(&Query::partition("P")).await.unwrap().items, vec![it]);
        assert_eq!(store.add(&Key::new("P", "C"), "n", 2).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn rejects_key_updates_oversized_items_and_zero_limits() {
        let store = SqliteItemStore::open_in_memory().unwrap();
        let key = Key::new("P", "A");
        assert!(matches!(store.update(&key, Update::new().set("sk", "B"), None).await, Err(StoreError::Invalid(_))));
        let big = item("P", "B", json!({"blob": "x".repeat(MAX_ITEM_BYTES)}));
        assert!(matches!(store.put(big, None).await, Err(StoreError::Invalid(_))));
        assert!(matches!(store.get(&Key::new("", "A")).await, Err(StoreError::Invalid(_))));
        assert!(matches!(store.query(&Query::partition("P").limit(0)).await, Err(StoreError::Invalid(_))));
        assert!(store.transact(vec![]).await.is_ok());
        assert_eq!(store.get(&key).await.unwrap(), None);
    }

    #[tokio::test]
    async fn item_with_half_an_index_key_is_not_indexed() {
        let store = SqliteItemStore::open_in_memory().unwrap();
        let mut it = item("P", "A", json!({}));
        it.set("gsi1pk", json!("G"));
        store.put(it, None).await.unwrap();
        assert!(store.query(&Query::on_index(Index::Gsi1, "G")).await.unwrap().items.is_empty());
    }

    #[tokio::test]
    async fn transaction_add_type_error_is_reported_per_operation() {
        let store = SqliteItemStore::open_in_memory().unwrap();
        store.put(item("P", "S", json!({"s": "text"})), None).await.unwrap();
        let err = store
            .transact(vec![
                TxOp::Put { item: item("P", "N", json!({})), condition: None },
                TxOp::Update { key: Key::new("P", "S"), update: Update::new().add("s", 1), condition: None },
            ])
            .await
            .unwrap_err();
        match err {
            StoreError::TransactionCanceled { reasons } => {
                assert_eq!(reasons[0], None);
                assert!(matches!(reasons[1], Some(CancelReason::Other(_))));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(store.get(&Key::new("P", "N")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn prefix_at_the_top_of_unicode() {
        let store = SqliteItemStore::open_in_memory().unwrap();
        for sk in ["a\u{10FFFF}", "a\u{10FFFF}x", "b", "a\u{D7FF}z", "a\u{E000}"] {
            store.put(item("P", sk, json!({})), None).await.unwrap();
        }
        let page = store.query(&Query::partition("P").prefix("a\u{10FFFF}")).await.unwrap();
        let sks: Vec<&str> = page.items.iter().filter_map(|i| i.get_str(SK)).collect();
        assert_eq!(sks, vec!["a\u{10FFFF}", "a\u{10FFFF}x"]);
        let page = store.query(&Query::partition("P").prefix("a\u{D7FF}")).await.unwrap();
        assert_eq!(page.items.len(), 1);
    }

    #[test]
    fn index_queries_use_the_partial_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteItemStore::open(&dir.path().join("items.db")).unwrap();
        let conn = lock(&store.inner.writer);
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
            rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
        };
        let p = plan(
            "SELECT data FROM items WHERE gsi1pk = 'a' AND gsi1sk >= 'b' AND (gsi1sk, pk, sk) > ('c', 'd', 'e') \
             ORDER BY gsi1sk ASC, pk ASC, sk ASC LIMIT 5",
        );
        assert!(p.contains("items_gsi1") && !p.contains("TEMP B-TREE"), "{p}");
        let p = plan("SELECT data FROM items WHERE gsi2pk = 'a' ORDER BY gsi2sk DESC, pk DESC, sk DESC LIMIT 5");
        assert!(p.contains("items_gsi2") && !p.contains("TEMP B-TREE"), "{p}");
        let p = plan("SELECT data FROM items WHERE pk = 'a' AND sk > 'b' ORDER BY sk DESC LIMIT 5");
        assert!(p.contains("PRIMARY KEY") && !p.contains("TEMP B-TREE"), "{p}");
        let p = plan(&DELETE_EXPIRED.replace("?1", "5").replace("?2", "10"));
        assert!(p.contains("items_ttl") && !p.contains("SCAN items"), "{p}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_expired_deletes_expired_items_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteItemStore::open(&dir.path().join("items.db")).unwrap();
        for i in 0..3 {
            store.put(item("S", &format!("{i}"), json!({"ttl": 100 + i})), None).await.unwrap();
        }
        store.put(item("S", "live", json!({"ttl": 200})), None).await.unwrap();
        store.put(item("S", "plain", json!({})), None).await.unwrap();
        assert_eq!(store.purge_expired(150, 2).await.unwrap(), 2);
        assert_eq!(store.get(&Key::new("S", "2")).await.unwrap().map(|_| ()), Some(()), "oldest first");
        assert_eq!(store.purge_expired(150, 2).await.unwrap(), 1);
        assert_eq!(store.purge_expired(150, 2).await.unwrap(), 0);
        let left = store.query(&Query::partition("S")).await.unwrap().items;
        assert_eq!(
            left.iter().map(|i| i.get_str(SK).unwrap_or_default().to_owned()).collect::<Vec<_>>(),
            ["live", "plain"]
        );
        assert!(matches!(store.purge_expired(150, 0).await, Err(StoreError::Invalid(_))));
    }
}
