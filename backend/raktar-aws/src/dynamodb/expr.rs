//! Condition, update and key-condition expressions, always through placeholders.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use raktar_core::store::item::{Condition, PK, SortKey, StoreError, Update};
use serde_json::Value;

use super::attrs::to_attribute_value;

/// Placeholders of one request's expressions. Each attribute name gets one `#nN` placeholder
/// (reused across the update and the condition); each value gets a fresh `:vN`.
#[derive(Debug, Default)]
pub(super) struct Expr {
    names: HashMap<String, String>,
    by_attr: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

/// A sort-key condition that can match something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SortCond<'a> {
    Prefix(&'a str),
    Between(&'a str, &'a str),
    From(&'a str),
    UpTo(&'a str),
}

/// The sort-key condition to send: `Some(None)` for none, `None` when nothing can match (DynamoDB
/// rejects an inverted `BETWEEN` and empty strings in key conditions; both mean "no items" here).
pub(super) fn sort_condition(sk: &SortKey) -> Option<Option<SortCond<'_>>> {
    match sk {
        SortKey::Any => Some(None),
        SortKey::Prefix(p) if p.is_empty() => Some(None),
        SortKey::Prefix(p) => Some(Some(SortCond::Prefix(p))),
        SortKey::From(from) if from.is_empty() => Some(None),
        SortKey::From(from) => Some(Some(SortCond::From(from))),
        SortKey::UpTo(to) if to.is_empty() => None,
        SortKey::UpTo(to) => Some(Some(SortCond::UpTo(to))),
        SortKey::Between(from, to) if from > to || to.is_empty() => None,
        SortKey::Between(from, to) if from.is_empty() => Some(Some(SortCond::UpTo(to))),
        SortKey::Between(from, to) => Some(Some(SortCond::Between(from, to))),
    }
}

impl Expr {
    pub(super) fn name(&mut self, attr: &str) -> String {
        if let Some(placeholder) = self.by_attr.get(attr) {
            return placeholder.clone();
        }
        let placeholder = format!("#n{}", self.by_attr.len());
        self.by_attr.insert(attr.to_owned(), placeholder.clone());
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    pub(super) fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn json(&mut self, value: &Value) -> Result<String, StoreError> {
        Ok(self.value(to_attribute_value(value)?))
    }

    /// The condition expression, or `None` when the condition always holds (an empty `All`).
    pub(super) fn condition(&mut self, condition: &Condition) -> Result<Option<String>, StoreError> {
        Ok(match condition {
            Condition::Exists => Some(format!("attribute_exists({})", self.name(PK))),
            Condition::NotExists => Some(format!("attribute_not_exists({})", self.name(PK))),
            Condition::AttrEquals(attr, value) => {
                let name = self.name(attr);
                Some(format!("{name} = {}", self.json(value)?))
            }
            Condition::AttrNotExists(attr) => {
                let pk = self.name(PK);
                Some(format!("attribute_exists({pk}) AND attribute_not_exists({})", self.name(attr)))
            }
            Condition::All(parts) => {
                let mut rendered = Vec::new();
                for part in parts {
                    rendered.extend(self.condition(part)?);
                }
                match rendered.len() {
                    0 => None,
                    1 => rendered.pop(),
                    _ => Some(rendered.iter().map(|p| format!("({p})")).collect::<Vec<_>>().join(" AND ")),
                }
            }
        })
    }

    /// [`Expr::condition`] of an optional condition.
    pub(super) fn optional_condition(&mut self, condition: Option<&Condition>) -> Result<Option<String>, StoreError> {
        Ok(match condition {
            Some(condition) => self.condition(condition)?,
            None => None,
        })
    }

    /// The update expression, or `None` for an empty update.
    pub(super) fn update(&mut self, update: &Update) -> Result<Option<String>, StoreError> {
        // `ADD` goes first: it is the only action that can fail on the item's current state (a
        // non-number attribute). DynamoDB applies an update atomically whatever the clause order;
        // moto applies actions one by one in order, so failing first keeps it from half-applying.
        let mut add = Vec::new();
        for (attr, delta) in &update.add {
            let name = self.name(attr);
            add.push(format!("{name} {}", self.value(AttributeValue::N(delta.to_string()))));
        }
        let mut set = Vec::new();
        for (attr, value) in &update.set {
            let name = self.name(attr);
            set.push(format!("{name} = {}", self.json(value)?));
        }
        for (attr, value) in &update.set_if_absent {
            let name = self.name(attr);
            set.push(format!("{name} = if_not_exists({name}, {})", self.json(value)?));
        }
        let remove: Vec<String> = update.remove.iter().map(|attr| self.name(attr)).collect();
        let clauses: Vec<String> = [("ADD", add), ("SET", set), ("REMOVE", remove)]
            .into_iter()
            .filter(|(_, parts)| !parts.is_empty())
            .map(|(verb, parts)| format!("{verb} {}", parts.join(", ")))
            .collect();
        Ok((!clauses.is_empty()).then(|| clauses.join(" ")))
    }

    pub(super) fn sort_key(&mut self, attr: &str, cond: &SortCond<'_>) -> String {
        let name = self.name(attr);
        let mut s = |v: &str| self.value(AttributeValue::S(v.to_owned()));
        match cond {
            SortCond::Prefix(p) => format!("begins_with({name}, {})", s(p)),
            SortCond::Between(from, to) => {
                let from = s(from);
                format!("{name} BETWEEN {from} AND {}", s(to))
            }
            SortCond::From(from) => format!("{name} >= {}", s(from)),
            SortCond::UpTo(to) => format!("{name} <= {}", s(to)),
        }
    }

    /// The names for the request (`None` when empty: DynamoDB rejects an empty map).
    pub(super) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub(super) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn conditions_render_with_placeholders_only() {
        let mut e = Expr::default();
        let c = Condition::All(vec![
            Condition::Exists,
            Condition::AttrEquals("rev".into(), json!(3)),
            Condition::All(vec![]),
            Condition::AttrNotExists("deleted flag".into()),
        ]);
        let rendered = e.condition(&c).unwrap().unwrap();
        assert_eq!(
            rendered,
            "(attribute_exists(#n0)) AND (#n1 = :v0) AND (attribute_exists(#n0) AND attribute_not_exists(#n2))"
        );
        assert_eq!(e.names["#n0"], "pk");
        assert_eq!(e.names["#n1"], "rev");
        assert_eq!(e.names["#n2"], "deleted flag");
        assert_eq!(e.values[":v0"], AttributeValue::N("3".into()));
        assert_eq!(Expr::default().condition(&Condition::All(vec![])).unwrap(), None);
        assert_eq!(Expr::default().condition(&Condition::NotExists).unwrap().unwrap(), "attribute_not_exists(#n0)");
    }

    #[test]
    fn updates_render_every_clause() {
        let mut e = Expr::default();
        let u = Update::new().set("a", 1).set_if_absent("b", "x").remove("c").add("d", -2).remove("e");
        assert_eq!(
            e.update(&u).unwrap().unwrap(),
            "ADD #n0 :v0 SET #n1 = :v1, #n2 = if_not_exists(#n2, :v2) REMOVE #n3, #n4"
        );
        assert_eq!(e.values[":v0"], AttributeValue::N("-2".into()));
        // The condition reuses the names of the update.
        assert_eq!(e.condition(&Condition::AttrEquals("a".into(), json!("z"))).unwrap().unwrap(), "#n1 = :v3");
        assert_eq!(Expr::default().update(&Update::new()).unwrap(), None);
    }

    #[test]
    fn sort_key_conditions() {
        let mut e = Expr::default();
        assert_eq!(e.sort_key("sk", &SortCond::Prefix("A#")), "begins_with(#n0, :v0)");
        assert_eq!(e.sort_key("sk", &SortCond::Between("a", "b")), "#n0 BETWEEN :v1 AND :v2");
        assert_eq!(e.sort_key("gsi1sk", &SortCond::From("a")), "#n1 >= :v3");
        assert_eq!(e.sort_key("sk", &SortCond::UpTo("a")), "#n0 <= :v4");
        assert_eq!(sort_condition(&SortKey::Between("b".into(), "a".into())), None);
        assert_eq!(sort_condition(&SortKey::UpTo(String::new())), None);
        assert_eq!(sort_condition(&SortKey::Prefix(String::new())), Some(None));
        assert_eq!(sort_condition(&SortKey::From(String::new())), Some(None));
        assert_eq!(sort_condition(&SortKey::Between(String::new(), "b".into())), Some(Some(SortCond::UpTo("b"))));
    }
}
