//! Items as rows, and the write operations on the writer connection.

use raktar_core::store::item::{
    CancelReason, Condition, Index, Item, Key, MAX_ITEM_BYTES, StoreError, TxOp, Update, check_item, key_attr,
};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::{Map, Value};

use super::conn::{DELETE_ONE, SELECT_ONE, UPSERT, db, invalid};
use super::eval::{apply_update, condition_failed_unless, holds};

// ----------------------------------------------------------------------------------------------
// Items, keys and rows

/// The columns of one stored item.
pub(super) struct Row {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) gsi: [Option<(String, String)>; 2],
    pub(super) data: String,
}

/// Validates an item and computes its row.
pub(super) fn row_of(item: &Item) -> Result<Row, StoreError> {
    let Key { pk, sk } = check_item(item)?;
    let mut gsi = [None, None];
    for (slot, index) in gsi.iter_mut().zip(Index::ALL) {
        let ipk = key_attr(item, index.pk_attr())?;
        let isk = key_attr(item, index.sk_attr())?;
        if let (Some(ipk), Some(isk)) = (ipk, isk) {
            *slot = Some((ipk.to_owned(), isk.to_owned()));
        }
    }
    let data = serde_json::to_string(&item.0).map_err(|e| StoreError::serialization_source("item to JSON", e))?;
    if data.len() > MAX_ITEM_BYTES {
        return Err(invalid(format!("item {pk}/{sk} is larger than {MAX_ITEM_BYTES} bytes")));
    }
    Ok(Row { pk, sk, gsi, data })
}

pub(super) fn parse_item(data: ValueRef<'_>) -> Result<Item, StoreError> {
    let text = data.as_str().map_err(|e| StoreError::serialization_source("stored item", e))?;
    serde_json::from_str::<Map<String, Value>>(text)
        .map(Item)
        .map_err(|e| StoreError::serialization_source("stored item", e))
}

pub(super) fn load(conn: &Connection, key: &Key) -> Result<Option<Item>, StoreError> {
    let mut stmt = conn.prepare_cached(SELECT_ONE).map_err(db)?;
    let mut rows = stmt.query(params![key.pk, key.sk]).map_err(db)?;
    match rows.next().map_err(db)? {
        Some(row) => parse_item(row.get_ref(0).map_err(db)?).map(Some),
        None => Ok(None),
    }
}

pub(super) fn store_row(conn: &Connection, row: &Row) -> Result<(), StoreError> {
    let [g1, g2] = &row.gsi;
    let (g1pk, g1sk) = g1.as_ref().map(|(p, s)| (Some(p), Some(s))).unwrap_or_default();
    let (g2pk, g2sk) = g2.as_ref().map(|(p, s)| (Some(p), Some(s))).unwrap_or_default();
    let mut stmt = conn.prepare_cached(UPSERT).map_err(db)?;
    stmt.execute(params![row.pk, row.sk, g1pk, g1sk, g2pk, g2sk, row.data]).map_err(db)?;
    Ok(())
}

pub(super) fn remove_row(conn: &Connection, key: &Key) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(DELETE_ONE).map_err(db)?;
    stmt.execute(params![key.pk, key.sk]).map_err(db)?;
    Ok(())
}

// ----------------------------------------------------------------------------------------------
// Write operations (on the writer connection)

pub(super) fn put_item(conn: &mut Connection, row: &Row, condition: Option<&Condition>) -> Result<(), StoreError> {
    let Some(condition) = condition else {
        return store_row(conn, row);
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let current = load(&tx, &Key::new(row.pk.as_str(), row.sk.as_str()))?;
    condition_failed_unless(Some(condition), current.as_ref())?;
    store_row(&tx, row)?;
    tx.commit().map_err(db)
}

pub(super) fn update_item(
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

pub(super) fn delete_item(conn: &mut Connection, key: &Key, condition: Option<&Condition>) -> Result<(), StoreError> {
    let Some(condition) = condition else {
        return remove_row(conn, key);
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let current = load(&tx, key)?;
    condition_failed_unless(Some(condition), current.as_ref())?;
    remove_row(&tx, key)?;
    tx.commit().map_err(db)
}

pub(super) enum Write<'a> {
    Put(Row),
    Delete(&'a Key),
}

pub(super) fn transact_items(conn: &mut Connection, ops: &[TxOp], keys: &[Key]) -> Result<(), StoreError> {
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
