//! Storage ports. Drivers live in the `raktar-store` crate; the shared conformance suites that every
//! driver must pass live in [`crate::testkit`] (feature `testkit`).

pub mod blob;
pub mod counting;
pub mod item;

pub use blob::{Blob, BlobError, BlobLocation, BlobStore, BlobStream, PutOutcome};
pub use counting::{CountingItemStore, StoreCallCounts};
pub use item::{
    BoxError, CancelReason, Condition, Index, Item, ItemStore, Key, MAX_TX_OPS, Page, Query, SortKey, StoreError, TxOp,
    Update, query_all,
};
