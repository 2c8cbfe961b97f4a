//! Evaluating conditions and applying updates to items with DynamoDB's semantics, shared by the
//! stores that evaluate them themselves (the embedded SQLite store and the testkit's in-memory one);
//! the DynamoDB driver renders them to expressions instead.

use serde_json::{Map, Number, Value};

use super::item::{Condition, Item, Key, PK, SK, StoreError, Update};

/// Evaluates a condition against the current item (DynamoDB semantics).
pub fn holds(condition: &Condition, current: Option<&Item>) -> bool {
    match condition {
        Condition::Exists => current.is_some(),
        Condition::NotExists => current.is_none(),
        Condition::AttrEquals(attr, value) => current.and_then(|i| i.get(attr)).is_some_and(|v| json_eq(v, value)),
        Condition::AttrNotExists(attr) => current.is_some_and(|i| i.get(attr).is_none()),
        Condition::All(parts) => parts.iter().all(|c| holds(c, current)),
    }
}

/// JSON equality where numbers compare by value (1 == 1.0), like DynamoDB numbers.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_eq(x, y),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Numbers compare by value: integers exactly, anything else as floats.
pub fn number_eq(x: &Number, y: &Number) -> bool {
    match (as_i128(x), as_i128(y)) {
        (Some(a), Some(b)) => a == b,
        _ => matches!((x.as_f64(), y.as_f64()), (Some(a), Some(b)) if a == b),
    }
}

/// An integer number widened to `i128` (`None` for floats).
pub fn as_i128(n: &Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

/// Applies an update to the current item (or a new item with just its key).
pub fn apply_update(key: &Key, current: Option<Item>, update: &Update) -> Result<Item, StoreError> {
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
            Some(_) => return Err(StoreError::Invalid(format!("cannot add to attribute {attr}: not a number"))),
        };
        map.insert(attr.clone(), sum);
    }
    Ok(Item(map))
}

/// `n + delta` for an `ADD` update; integers stay integers, overflow is an error.
pub fn add_number(attr: &str, n: &Number, delta: i64) -> Result<Value, StoreError> {
    let overflow = || StoreError::Invalid(format!("adding {delta} to attribute {attr} overflows"));
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

/// `Err(ConditionFailed)` when `condition` is given and does not hold for `current`.
pub fn condition_failed_unless(condition: Option<&Condition>, current: Option<&Item>) -> Result<(), StoreError> {
    match condition {
        Some(c) if !holds(c, current) => Err(StoreError::ConditionFailed),
        _ => Ok(()),
    }
}
