//! Storage drivers of the embedded home: the SQLite item store and the filesystem blob store.
//!
//! Both implement the ports of `raktar_core::store` and pass the shared conformance suites of
//! `raktar_core::testkit`.

pub mod fs;
pub mod sqlite;

pub use fs::FsBlobStore;
pub use sqlite::SqliteItemStore;
