//! Storage ports: [`ItemStore`] (the single table: items, conditions, transactions, atomic add)
//! and [`BlobStore`] (`.crate` files and other large values), plus [`CountingItemStore`], a
//! decorator that counts store calls for tests and benchmarks. [`eval`] evaluates conditions and
//! applies updates for the drivers that do so themselves (SQLite, the testkit's in-memory store).
//!
//! Drivers live in other crates: `raktar-store` (SQLite item store, filesystem blob store: the
//! embedded home) and `raktar-aws` (DynamoDB and S3: the AWS home). The shared conformance suites
//! that every driver must pass live in `crate::testkit` (feature `testkit`).

pub mod blob;
pub mod counting;
pub mod eval;
pub mod item;

pub use blob::{Blob, BlobError, BlobLocation, BlobStore, BlobStream, PutOutcome};
pub use counting::{CountingItemStore, StoreCallCounts};
pub use item::{
    BoxError, CancelReason, Condition, Index, Item, ItemStore, Key, MAX_TX_OPS, Page, Query, SortKey, StoreError, TxOp,
    Update, query_all,
};
