//! Items as DynamoDB attribute values, through `serde_dynamo` (the serde data model of
//! `aws-sdk-dynamodb` 1.x).
//!
//! A JSON value maps one to one: strings to `S` (empty strings are fine outside keys), numbers to
//! `N` (integers as their decimal text; floats as Rust's shortest round-tripping decimal text,
//! the same value DynamoDB stores for the JSON text), booleans to `BOOL`, `null` to `NULL`, arrays
//! to `L`, objects to `M`. Back: `N` becomes a JSON integer when the text is an integer that fits
//! `i64`/`u64`, else a float; `SS`/`NS` become arrays; binary attributes (`B`/`BS`) and types this
//! SDK does not know are refused with [`StoreError::Serialization`].

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use raktar_core::store::item::{Item, Key, PK, SK, StoreError};
use serde_json::{Map, Value};

fn serialization(context: &str, e: serde_dynamo::Error) -> StoreError {
    StoreError::serialization_source(context, e)
}

/// A JSON value as a DynamoDB attribute value.
pub fn to_attribute_value(value: &Value) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(|e| serialization("JSON to DynamoDB attribute value", e))
}

/// Refuses attribute types `serde_dynamo` cannot hand to JSON (types newer than this SDK).
fn check_known(value: &AttributeValue) -> Result<(), StoreError> {
    match value {
        AttributeValue::L(values) => values.iter().try_for_each(check_known),
        AttributeValue::M(map) => map.values().try_for_each(check_known),
        AttributeValue::S(_)
        | AttributeValue::N(_)
        | AttributeValue::Bool(_)
        | AttributeValue::Null(_)
        | AttributeValue::Ss(_)
        | AttributeValue::Ns(_) => Ok(()),
        AttributeValue::B(_) | AttributeValue::Bs(_) => {
            Err(StoreError::serialization("binary attribute values are not supported"))
        }
        _ => Err(StoreError::serialization("unknown DynamoDB attribute value type")),
    }
}

/// A DynamoDB attribute value as JSON.
pub fn from_attribute_value(value: AttributeValue) -> Result<Value, StoreError> {
    check_known(&value)?;
    serde_dynamo::from_attribute_value(value).map_err(|e| serialization("DynamoDB attribute value to JSON", e))
}

pub(super) fn item_to_attrs(item: &Item) -> Result<HashMap<String, AttributeValue>, StoreError> {
    item.0.iter().map(|(k, v)| Ok((k.clone(), to_attribute_value(v)?))).collect()
}

pub(super) fn item_from_attrs(attrs: HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    attrs.into_iter().map(|(k, v)| Ok((k, from_attribute_value(v)?))).collect::<Result<Map<_, _>, _>>().map(Item)
}

pub(super) fn key_attrs(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

pub(super) fn key_map(key: &Key) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(PK.into(), Value::String(key.pk.clone()));
    map.insert(SK.into(), Value::String(key.sk.clone()));
    map
}

/// The size of an item as DynamoDB measures it for capacity: the UTF-8 length of every attribute
/// name plus the size of its value (strings and binaries: their length; numbers: one byte per two
/// significant digits plus one; booleans and null: one byte; lists and maps: three bytes plus one
/// per element plus the elements, and for maps their names). Used to turn reads into read request
/// units, which moto does not compute (it reports a flat figure).
pub(super) fn dynamodb_item_size(attrs: &HashMap<String, AttributeValue>) -> usize {
    attrs.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => {
            let digits = n.bytes().filter(u8::is_ascii_digit).count();
            digits.div_ceil(2) + 1
        }
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| 1 + k.len() + value_size(v)).sum::<usize>(),
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_round_trips_through_attribute_values() {
        let value = json!({
            "s": "x", "empty": "", "i": 42, "neg": -7, "big": 9_007_199_254_740_993_i64, "u": u64::MAX,
            "f": 1.5, "nf": -2.25, "t": true, "n": null, "l": [1, "two", [3], {"four": 4}], "el": [], "m": {"a": {"b": "c"}}, "em": {}
        });
        let attr = to_attribute_value(&value).unwrap();
        let AttributeValue::M(map) = &attr else { panic!("not a map") };
        assert_eq!(map["i"], AttributeValue::N("42".into()));
        assert_eq!(map["big"], AttributeValue::N("9007199254740993".into()));
        assert_eq!(map["n"], AttributeValue::Null(true));
        assert_eq!(map["empty"], AttributeValue::S(String::new()));
        assert_eq!(from_attribute_value(attr).unwrap(), value);
        assert_eq!(from_attribute_value(AttributeValue::N("1E+2".into())).unwrap(), json!(100.0));
        assert_eq!(from_attribute_value(AttributeValue::Ns(vec!["1".into(), "2.5".into()])).unwrap(), json!([1, 2.5]));
        assert!(from_attribute_value(AttributeValue::B(vec![1].into())).is_err());
    }

    /// The hand-written mapping this module replaced: what existing tables hold.
    fn legacy_to_attribute_value(value: &Value) -> AttributeValue {
        match value {
            Value::Null => AttributeValue::Null(true),
            Value::Bool(b) => AttributeValue::Bool(*b),
            Value::Number(n) => AttributeValue::N(n.to_string()),
            Value::String(s) => AttributeValue::S(s.clone()),
            Value::Array(values) => AttributeValue::L(values.iter().map(legacy_to_attribute_value).collect()),
            Value::Object(map) => {
                AttributeValue::M(map.iter().map(|(k, v)| (k.clone(), legacy_to_attribute_value(v))).collect())
            }
        }
    }

    #[test]
    fn writes_what_the_hand_written_mapping_wrote() {
        // Every kind of attribute the model stores: keys, counters (`revision`, download counts, used
        // in conditions and `ADD`), timestamps, flags, nulls, nested lists and maps.
        let item = json!({
            "pk": "CRATE#serde", "sk": "V#1.0.0", "gsi1pk": "", "revision": 0, "downloads": 18_446_744_073_709_551_615_u64,
            "min": i64::MIN, "neg": -1, "ttl": 1_767_225_600, "yanked": false, "links": null, "ratio": 0.1, "half": -2.25,
            "deps": [{"name": "a", "req": "^1", "features": [], "optional": true, "target": null}],
            "features": {"default": ["std"], "std": []}, "nested": [[[]], {}, [1, "1", true, null]]
        });
        let attr = to_attribute_value(&item).unwrap();
        assert_eq!(attr, legacy_to_attribute_value(&item));
        assert_eq!(from_attribute_value(attr).unwrap(), item);
        // Counters compare and add as numbers: the text of an integer is its decimal digits.
        assert_eq!(to_attribute_value(&json!(7)).unwrap(), AttributeValue::N("7".into()));
        assert_eq!(to_attribute_value(&json!(-7)).unwrap(), AttributeValue::N("-7".into()));
        // Numbers DynamoDB normalized on storage read back as the same JSON numbers.
        for (stored, json) in [("1E+20", json!(1e20)), ("100", json!(100)), ("-0.5", json!(-0.5)), ("1.0", json!(1.0))]
        {
            assert_eq!(from_attribute_value(AttributeValue::N(stored.into())).unwrap(), json, "{stored}");
        }
        let err = from_attribute_value(AttributeValue::N("not a number".into())).unwrap_err();
        // The serde_dynamo error stays attached as the cause.
        let source = std::error::Error::source(&err).expect("a cause");
        assert!(source.downcast_ref::<serde_dynamo::Error>().is_some(), "{source}");
        assert!(from_attribute_value(AttributeValue::L(vec![AttributeValue::Bs(vec![])])).is_err());
    }

    #[test]
    fn dynamodb_item_size_counts_names_and_values() {
        let mut attrs = HashMap::new();
        attrs.insert("pk".to_owned(), AttributeValue::S("CRATE#a".into()));
        attrs.insert("n".to_owned(), AttributeValue::N("12345".into()));
        attrs.insert("b".to_owned(), AttributeValue::Bool(true));
        attrs.insert("l".to_owned(), AttributeValue::L(vec![AttributeValue::S("xy".into())]));
        // 2 + 7, 1 + (3 + 1), 1 + 1, 1 + (3 + 1 + 2)
        assert_eq!(dynamodb_item_size(&attrs), 9 + 5 + 2 + 7);
    }
}
