//! Requests sent and capacity consumed, per store (shared by its clones).

use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::types::ConsumedCapacity;
use serde::Serialize;

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
    /// Read request units as DynamoDB on-demand bills the reads sent: per `GetItem` or `Query`
    /// page, the size of the items returned (DynamoDB's item size, as `attrs::dynamodb_item_size` computes it) in 4 KB steps
    /// (at least one), one unit per step strongly consistent and half a unit eventually
    /// consistent. Computed by the driver from the answers, so it holds on moto too (which
    /// reports a flat 0.5 per `GetItem` whatever its size and consistency).
    pub read_request_units: f64,
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
            read_request_units: self.read_request_units - earlier.read_request_units,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Op {
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
pub(super) struct Metrics {
    requests: [AtomicU64; 6],
    /// `f64` bits.
    rcu: AtomicU64,
    wcu: AtomicU64,
    rru: AtomicU64,
}

/// Read request units of one read returning `bytes` of items.
pub(super) fn read_request_units(bytes: usize, consistent: bool) -> f64 {
    let steps = bytes.div_ceil(4096).max(1) as f64;
    if consistent { steps } else { steps / 2.0 }
}

fn add_f64(cell: &AtomicU64, delta: f64) {
    if delta != 0.0 {
        // The closure always returns `Some`, so this cannot fail.
        let _ = cell
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + delta).to_bits()));
    }
}

impl Metrics {
    pub(super) fn request(&self, op: Op) {
        self.requests[op as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the capacity of one response; a total without a read/write split counts as the
    /// operation's natural kind.
    pub(super) fn consumed<'a>(&self, op: Op, capacity: impl IntoIterator<Item = &'a ConsumedCapacity>) {
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

    /// Adds the read request units of one read (see [`DynamoMetrics::read_request_units`]).
    pub(super) fn read(&self, bytes: usize, consistent: bool) {
        add_f64(&self.rru, read_request_units(bytes, consistent));
    }

    pub(super) fn snapshot(&self) -> DynamoMetrics {
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
            read_request_units: f64::from_bits(self.rru.load(Ordering::Relaxed)),
        }
    }

    pub(super) fn reset(&self) {
        for r in &self.requests {
            r.store(0, Ordering::Relaxed);
        }
        self.rcu.store(0.0_f64.to_bits(), Ordering::Relaxed);
        self.wcu.store(0.0_f64.to_bits(), Ordering::Relaxed);
        self.rru.store(0.0_f64.to_bits(), Ordering::Relaxed);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

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
        m.read(100, true);
        m.read(100, false);
        m.read(4097, false);
        assert_eq!(m.snapshot().read_request_units, 1.0 + 0.5 + 1.0);
        m.reset();
        assert_eq!(m.snapshot(), DynamoMetrics::default());
    }

    #[test]
    fn read_request_units_follow_size_and_consistency() {
        assert_eq!(read_request_units(0, true), 1.0, "a miss still costs a unit");
        assert_eq!(read_request_units(0, false), 0.5);
        assert_eq!(read_request_units(4096, true), 1.0);
        assert_eq!(read_request_units(4097, true), 2.0);
        assert_eq!(read_request_units(10_000, false), 1.5);
    }
}
