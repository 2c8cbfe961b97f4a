//! Connections: the schema, the writer behind a mutex, the reader pool, the change marker.

use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use raktar_core::store::item::StoreError;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::runtime::RuntimeFlavor;

/// How long a connection waits for a lock held by another connection or process.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Reader connections kept open for reuse.
pub(super) const IDLE_READERS: usize = 8;
/// Prepared statements cached per connection (query shapes vary by index, condition, direction).
pub(super) const STATEMENT_CACHE: usize = 64;
/// `PRAGMA user_version` of the schema this driver writes.
pub(super) const SCHEMA_VERSION: i64 = 1;

pub(super) const SCHEMA: &str = "
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

pub(super) const SELECT_ONE: &str = "SELECT data FROM items WHERE pk = ?1 AND sk = ?2";
pub(super) const UPSERT: &str =
    "INSERT OR REPLACE INTO items (pk, sk, gsi1pk, gsi1sk, gsi2pk, gsi2sk, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
pub(super) const DELETE_ONE: &str = "DELETE FROM items WHERE pk = ?1 AND sk = ?2";
/// Expired items, oldest first, through the partial `items_ttl` index (text `ttl` values sort after
/// every number in SQLite and are never expired).
pub(super) const DELETE_EXPIRED: &str = "DELETE FROM items WHERE (pk, sk) IN (
    SELECT pk, sk FROM items
    WHERE json_extract(data, '$.ttl') IS NOT NULL AND json_extract(data, '$.ttl') <= ?1
    ORDER BY json_extract(data, '$.ttl') LIMIT ?2)";

/// The embedded [`ItemStore`] on one SQLite file.
#[derive(Clone)]
pub struct SqliteItemStore {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) description: String,
    pub(super) writer: Mutex<Connection>,
    /// `None` for an in-memory database, which only has the writer connection.
    pub(super) readers: Option<Readers>,
    /// Source of [`ItemStore::change_marker`].
    pub(super) changes: ChangeWatch,
}

/// Size of the WAL-index header at the start of the `-shm` file: two copies of a 48-byte header
/// (see SQLite's `walformat.html`). Every commit rewrites it: its change counter, last frame and
/// checksums (and after a WAL reset its salts) differ, and new readers find the commit through it.
pub(super) const WAL_INDEX_HEADER: usize = 96;
/// How often the marker also asks SQLite itself (`PRAGMA data_version`), in case the WAL-index
/// file was replaced or its header did not tell.
pub(super) const SAFETY_CHECK: Duration = Duration::from_secs(1);
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
pub(super) struct ChangeWatch {
    /// `None` for an in-memory database.
    pub(super) path: Option<PathBuf>,
    /// The `-shm` file, opened read-only (`None` until it can be opened).
    pub(super) shm: RwLock<Option<std::fs::File>>,
    /// Descriptors of replaced `-shm` files, kept open (see [`ChangeWatch::reopen_shm`]).
    pub(super) retired_shm: Mutex<Vec<std::fs::File>>,
    /// The last WAL-index header seen, and the marker.
    pub(super) state: Mutex<WatchState>,
    /// Idle watcher connections with the data version each saw last.
    pub(super) idle: Mutex<Vec<(Connection, i64)>>,
}

pub(super) struct WatchState {
    pub(super) header: [u8; WAL_INDEX_HEADER],
    pub(super) marker: u64,
    pub(super) safety_checked: Option<Instant>,
}

impl ChangeWatch {
    pub(super) fn new(path: Option<&Path>) -> Self {
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

    pub(super) fn marker(&self) -> Option<u64> {
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
    pub(super) fn data_version_changed(&self, path: &Path) -> Option<bool> {
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
    pub(super) fn reopen_shm(&self) {
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

    pub(super) fn written(&self) {
        if self.path.is_none() {
            lock(&self.state).marker += 1;
        }
    }
}

pub(super) struct Readers {
    pub(super) path: PathBuf,
    pub(super) idle: Mutex<Vec<Connection>>,
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
                .map_err(|e| StoreError::backend_source(format!("creating {}", parent.display()), e))?;
        }
        let mut writer = open_connection(path)?;
        let mode: String = writer.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0)).map_err(db)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::backend(format!("{}: cannot switch to WAL mode (got {mode})", path.display())));
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
    pub(super) async fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let result = self.inner.read(f);
        tokio::task::consume_budget().await;
        result
    }

    /// Runs a write on the writer connection: on the calling thread on a multi-thread runtime,
    /// else on tokio's blocking pool (a write may wait for another process's lock).
    pub(super) async fn write<T: Send + 'static>(
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
            .map_err(|e| StoreError::backend_source("sqlite write task failed", e))?
    }
}

/// Whether `block_in_place` is allowed here (a multi-thread runtime; see the module docs).
pub(super) fn can_block_in_place() -> bool {
    tokio::runtime::Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread)
}

impl Inner {
    pub(super) fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let result = f(&mut lock(&self.writer));
        // In memory (no watcher connections): any write attempt may have changed items.
        self.changes.written();
        result
    }

    pub(super) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
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
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn db(e: rusqlite::Error) -> StoreError {
    StoreError::backend_source("sqlite", e)
}

pub(super) fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::Invalid(message.into())
}

pub(super) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::backend_source(format!("opening {}", path.display()), e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch("PRAGMA synchronous = NORMAL;").map_err(db)?;
    Ok(conn)
}

pub(super) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = open_connection(path)?;
    conn.execute_batch("PRAGMA query_only = ON;").map_err(db)?;
    tracing::trace!(path = %path.display(), "opened sqlite reader connection");
    Ok(conn)
}

pub(super) fn init_schema(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(db)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::backend(format!(
            "store schema version {version} is newer than this binary supports ({SCHEMA_VERSION})"
        )));
    }
    tx.execute_batch(SCHEMA).map_err(db)?;
    if version < SCHEMA_VERSION {
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION};")).map_err(db)?;
    }
    tx.commit().map_err(db)
}
