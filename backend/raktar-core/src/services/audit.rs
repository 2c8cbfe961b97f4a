//! Audit events, written in the same transaction as the change they record.

use std::collections::BTreeMap;

use crate::model::Entity as _;
use crate::model::{AuditRecord, keys};
use crate::store::{Condition, StoreError, TxOp};

use super::clock;

/// Builds the transaction operation that records one audit event.
pub fn event(
    actor: &str,
    action: &str,
    crate_name: Option<&str>,
    version: Option<&str>,
    detail: BTreeMap<String, String>,
) -> Result<TxOp, StoreError> {
    let now = clock::now();
    let at = clock::format(now);
    let id = hex::encode(rand::random::<[u8; 6]>());
    let key = keys::audit(&clock::date(now), &at, &id);
    let record = AuditRecord {
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        crate_name: crate_name.map(str::to_owned),
        version: version.map(str::to_owned),
        detail,
    };
    Ok(TxOp::Put { item: record.item(&key)?, condition: Some(Condition::NotExists) })
}
