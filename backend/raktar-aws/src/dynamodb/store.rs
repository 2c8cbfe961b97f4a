//! [`DynamoItemStore`]: the [`ItemStore`] port on one table, and its scans.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Delete, Put, ReturnConsumedCapacity, ReturnValue,
    TransactWriteItem, Update as SdkUpdate,
};
use raktar_core::store::item::{
    CancelReason, Condition, Item, ItemStore, Key, PK, Page, Query, SK, StoreError, TxOp, Update, check_item,
    check_key, check_transaction, check_update,
};

use super::attrs::{dynamodb_item_size, item_from_attrs, item_to_attrs, key_attrs, key_map};
use super::cursor::{decode_cursor, decode_scan_cursor, encode_cursor, encode_scan_cursor};
use super::expr::{Expr, sort_condition};
use super::metrics::{DynamoMetrics, Metrics, Op};
use super::{build_error, invalid, map_sdk_error};

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

    /// One `GetItem`, strongly or eventually consistent.
    async fn get_item(&self, key: &Key, consistent: bool) -> Result<Option<Item>, StoreError> {
        check_key(key)?;
        self.metrics.request(Op::GetItem);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attrs(key)))
            .consistent_read(consistent)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| map_sdk_error("GetItem", e))?;
        self.metrics.consumed(Op::GetItem, out.consumed_capacity());
        self.metrics.read(out.item.as_ref().map_or(0, dynamodb_item_size), consistent);
        out.item.map(item_from_attrs).transpose()
    }
}

#[async_trait]
impl ItemStore for DynamoItemStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.get_item(key, true).await
    }

    /// An eventually consistent `GetItem`: half the read units of [`get`](ItemStore::get).
    async fn get_relaxed(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.get_item(key, false).await
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
        let bytes = out.items.as_deref().unwrap_or_default().iter().map(dynamodb_item_size).sum();
        self.metrics.read(bytes, query.index.is_none());
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
        let condition = expr.optional_condition(condition.as_ref())?;
        self.metrics.request(Op::PutItem);
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item_to_attrs(&item)?))
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
        let update_expression = expr.update(&update)?;
        let condition = expr.optional_condition(condition.as_ref())?;
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
        let condition = expr.optional_condition(condition.as_ref())?;
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

    /// See [`DynamoItemStore::scan_page`] (below).
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
                let condition = expr.optional_condition(condition.as_ref())?;
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item_to_attrs(item)?))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(build_error)?;
                TransactWriteItem::builder().put(put).build()
            }
            TxOp::Update { key, update, condition } => {
                let update_expression = expr.update(update)?;
                let condition = expr.optional_condition(condition.as_ref())?;
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
                let condition = expr.optional_condition(condition.as_ref())?;
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
                let condition = expr.condition(condition)?;
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
        let bytes = out.items.as_deref().unwrap_or_default().iter().map(dynamodb_item_size).sum();
        self.metrics.read(bytes, true);
        let cursor = match out.last_evaluated_key {
            Some(last) if !last.is_empty() => Some(encode_scan_cursor(segment, last)?),
            _ => None,
        };
        let items = out.items.unwrap_or_default().into_iter().map(item_from_attrs).collect::<Result<_, _>>()?;
        Ok(Page { items, cursor })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

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
}
