//! Query and scan cursors: the `LastEvaluatedKey` as URL-safe base64 JSON, checked on the way back.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use raktar_core::store::item::{Index, PK, SK, StoreError};
use serde_json::{Map, Value};

use super::invalid;

/// The key attributes a `LastEvaluatedKey` holds for a query of the table or an index.
fn cursor_attrs(index: Option<Index>) -> Vec<&'static str> {
    match index {
        None => vec![PK, SK],
        Some(index) => vec![PK, SK, index.pk_attr(), index.sk_attr()],
    }
}

pub(super) fn encode_cursor(index: Option<Index>, last: HashMap<String, AttributeValue>) -> Result<String, StoreError> {
    let mut key = Map::new();
    for (attr, value) in last {
        match value {
            AttributeValue::S(s) => {
                key.insert(attr, Value::String(s));
            }
            _ => return Err(StoreError::backend(format!("LastEvaluatedKey attribute {attr} is not a string"))),
        }
    }
    let cursor = serde_json::json!({ "i": index.map(Index::name), "k": key });
    Ok(URL_SAFE_NO_PAD.encode(cursor.to_string()))
}

/// Decodes a cursor into an `ExclusiveStartKey`, checking it belongs to this index and partition.
pub(super) fn decode_cursor(
    index: Option<Index>,
    pk: &str,
    cursor: &str,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let bad = || invalid("invalid query cursor");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if value.get("i").and_then(Value::as_str) != index.map(Index::name) {
        return Err(invalid("query cursor belongs to another index"));
    }
    let key = value.get("k").and_then(Value::as_object).ok_or_else(bad)?;
    let expected = cursor_attrs(index);
    if key.len() != expected.len() || !expected.iter().all(|a| key.get(*a).is_some_and(Value::is_string)) {
        return Err(bad());
    }
    let partition_attr = index.map_or(PK, Index::pk_attr);
    if key.get(partition_attr).and_then(Value::as_str) != Some(pk) {
        return Err(invalid("query cursor belongs to another partition"));
    }
    Ok(key.iter().filter_map(|(attr, v)| v.as_str().map(|s| (attr.clone(), AttributeValue::S(s.to_owned())))).collect())
}

pub(super) fn encode_scan_cursor(
    segment: Option<(u32, u32)>,
    last: HashMap<String, AttributeValue>,
) -> Result<String, StoreError> {
    let mut key = Map::new();
    for (attr, value) in last {
        match value {
            AttributeValue::S(s) => {
                key.insert(attr, Value::String(s));
            }
            _ => return Err(StoreError::backend(format!("LastEvaluatedKey attribute {attr} is not a string"))),
        }
    }
    let cursor = serde_json::json!({ "scan": key, "seg": segment.map(|(i, t)| [i, t]) });
    Ok(URL_SAFE_NO_PAD.encode(cursor.to_string()))
}

pub(super) fn decode_scan_cursor(
    segment: Option<(u32, u32)>,
    cursor: &str,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let bad = || invalid("invalid scan cursor");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let expected_segment = serde_json::to_value(segment.map(|(i, t)| [i, t])).map_err(|_| bad())?;
    if value.get("seg") != Some(&expected_segment) {
        return Err(invalid("scan cursor belongs to another segment"));
    }
    let key = value.get("scan").and_then(Value::as_object).ok_or_else(bad)?;
    if key.len() != 2 || ![PK, SK].iter().all(|a| key.get(*a).is_some_and(Value::is_string)) {
        return Err(bad());
    }
    Ok(key.iter().filter_map(|(attr, v)| v.as_str().map(|s| (attr.clone(), AttributeValue::S(s.to_owned())))).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_checked() {
        let last = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("P#1".into())),
            ("sk".to_owned(), AttributeValue::S("S".into())),
            ("gsi1pk".to_owned(), AttributeValue::S("G".into())),
            ("gsi1sk".to_owned(), AttributeValue::S("x".into())),
        ]);
        let cursor = encode_cursor(Some(Index::ByOwner), last.clone()).unwrap();
        assert_eq!(decode_cursor(Some(Index::ByOwner), "G", &cursor).unwrap(), last);
        assert!(matches!(decode_cursor(Some(Index::ByOwner), "H", &cursor), Err(StoreError::Invalid(_))));
        assert!(matches!(decode_cursor(Some(Index::Listing), "G", &cursor), Err(StoreError::Invalid(_))));
        assert!(matches!(decode_cursor(None, "P#1", &cursor), Err(StoreError::Invalid(_))));
        assert!(matches!(decode_cursor(None, "P#1", "not a cursor!"), Err(StoreError::Invalid(_))));
        let table = encode_cursor(
            None,
            HashMap::from([
                ("pk".to_owned(), AttributeValue::S("P#1".into())),
                ("sk".to_owned(), AttributeValue::S("S".into())),
            ]),
        )
        .unwrap();
        assert_eq!(decode_cursor(None, "P#1", &table).unwrap().len(), 2);
    }
}
