//! Limits applied to a request around async-graphql's own (depth, complexity): the shape of the
//! query document (fields in total, root fields, introspection), checked before validation, and the
//! per-request response byte budget that large fields charge as they resolve.
//!
//! The shape is counted on the parsed document with fragment spreads expanded (each fragment is
//! counted once and its count reused, so a document that spreads fragments inside fragments cannot
//! make the count itself expensive). Aliases of the same field count once each: that is the point.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_graphql::Name;
use async_graphql::parser::Positioned;
use async_graphql::parser::types::{ExecutableDocument, FragmentDefinition, Selection, SelectionSet};

use crate::error::{Res, ResolverError, response_too_large};

/// Deepest nesting (selection sets and fragment spreads) the shape walk follows; far above the
/// depth limit, so it only stops documents that would be refused anyway (and fragment cycles).
const MAX_WALK_DEPTH: usize = 64;

/// The introspection root fields.
fn is_introspection(name: &str) -> bool {
    name == "__schema" || name == "__type"
}

/// What one selection set selects: fields in total (nested ones included), fields at its top
/// level, and whether one of those is an introspection field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    pub fields: usize,
    pub root_fields: usize,
    pub introspection: bool,
}

impl Shape {
    fn add(&mut self, other: Shape) {
        self.fields = self.fields.saturating_add(other.fields);
        self.root_fields = self.root_fields.saturating_add(other.root_fields);
        self.introspection |= other.introspection;
    }

    /// The largest shape of two operations (only one of them runs).
    fn max(self, other: Shape) -> Shape {
        Shape {
            fields: self.fields.max(other.fields),
            root_fields: self.root_fields.max(other.root_fields),
            introspection: self.introspection || other.introspection,
        }
    }
}

/// Why a document could not be measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeError {
    /// Nested (or spreading fragments) deeper than any query the depth limit allows.
    TooDeep,
}

struct Walker<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    memo: HashMap<&'a str, Shape>,
}

impl<'a> Walker<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet, depth: usize) -> Result<Shape, ShapeError> {
        if depth > MAX_WALK_DEPTH {
            return Err(ShapeError::TooDeep);
        }
        let mut shape = Shape::default();
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let name = field.node.name.node.as_str();
                    // An introspection answer is bounded by the schema, not by the data: its
                    // fields are not counted (the root-field limit bounds how many there are).
                    let nested = if is_introspection(name) {
                        0
                    } else {
                        self.selection_set(&field.node.selection_set.node, depth + 1)?.fields
                    };
                    shape.add(Shape {
                        fields: nested.saturating_add(1),
                        root_fields: 1,
                        introspection: is_introspection(name),
                    });
                }
                Selection::FragmentSpread(spread) => {
                    shape.add(self.fragment(spread.node.fragment_name.node.as_str(), depth + 1)?);
                }
                Selection::InlineFragment(inline) => {
                    shape.add(self.selection_set(&inline.node.selection_set.node, depth + 1)?);
                }
            }
        }
        Ok(shape)
    }

    fn fragment(&mut self, name: &'a str, depth: usize) -> Result<Shape, ShapeError> {
        if let Some(shape) = self.memo.get(name) {
            return Ok(*shape);
        }
        // An unknown fragment selects nothing here; validation reports it.
        let Some((key, def)) = self.fragments.get_key_value(name) else { return Ok(Shape::default()) };
        let shape = self.selection_set(&def.node.selection_set.node, depth)?;
        self.memo.insert(key.as_str(), shape);
        Ok(shape)
    }
}

/// The shape of the largest operation of a document: `root_fields` are the fields of the
/// operation's top level (its aliases included), `fields` every field selected at any level.
pub fn shape(doc: &ExecutableDocument) -> Result<Shape, ShapeError> {
    let mut walker = Walker { fragments: &doc.fragments, memo: HashMap::new() };
    let mut out = Shape::default();
    for (_, op) in doc.operations.iter() {
        out = out.max(walker.selection_set(&op.node.selection_set.node, 0)?);
    }
    Ok(out)
}

/// Bytes of the response the large fields of one request may produce (README text, lists). Put
/// into the request data; a field that would go over the limit fails with `RESPONSE_TOO_LARGE`,
/// and the request's whole answer is then replaced by that error.
#[derive(Debug)]
pub struct ResponseBudget {
    limit: usize,
    used: AtomicUsize,
    exceeded: AtomicBool,
}

impl ResponseBudget {
    pub fn new(limit: usize) -> Self {
        Self { limit, used: AtomicUsize::new(0), exceeded: AtomicBool::new(false) }
    }

    /// Counts `bytes` more of the response; fails once the total is over the limit.
    pub fn charge(&self, bytes: usize) -> Res<()> {
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) > self.limit {
            self.exceeded.store(true, Ordering::Relaxed);
            return Err(ResolverError::from(response_too_large(self.limit)));
        }
        Ok(())
    }

    /// Whether some field went over the limit.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// Bytes charged per item of a list, on top of what its large fields charge themselves (field
/// names and punctuation of a small object).
pub const LIST_ITEM_BYTES: usize = 64;

/// Bytes of a list of strings as JSON, roughly (quotes and commas).
pub fn strings_bytes<'s>(items: impl IntoIterator<Item = &'s String>) -> usize {
    items.into_iter().fold(0usize, |n, s| n.saturating_add(s.len()).saturating_add(3))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn of(query: &str) -> Result<Shape, ShapeError> {
        shape(&parse_query(query).unwrap())
    }

    #[test]
    fn aliases_fragments_and_nesting_count() {
        let s = of("{ a: me { login } b: me { login name } }").unwrap();
        assert_eq!(s, Shape { fields: 5, root_fields: 2, introspection: false });

        // Spreads count the fragment's fields each time; at the root they are root fields.
        let s = of("{ ...F ...F x: me { ...G } } fragment F on Query { me { login } } fragment G on User { a: login b: login }")
            .unwrap();
        assert_eq!(s, Shape { fields: 2 + 2 + 3, root_fields: 3, introspection: false });

        // Inline fragments too.
        let s = of("{ ... on Query { me { login } crates { totalCount } } }").unwrap();
        assert_eq!(s, Shape { fields: 4, root_fields: 2, introspection: false });

        // The largest operation counts.
        let s = of("query A { me { login } } query B { a: me { login } b: me { login } }").unwrap();
        assert_eq!(s.root_fields, 2);
        assert_eq!(s.fields, 4);
    }

    #[test]
    fn fragments_are_counted_once_however_often_they_are_spread() {
        // Each level spreads the one below four times: 4^12 fields, counted without expanding.
        let mut doc = String::from("{ ...F0 }\nfragment F12 on Query { me { login } }\n");
        for i in 0..12 {
            doc.push_str(&format!("fragment F{i} on Query {{ ...F{n} ...F{n} ...F{n} ...F{n} }}\n", n = i + 1));
        }
        let s = of(&doc).unwrap();
        assert_eq!(s.root_fields, 4usize.pow(12));
        assert_eq!(s.fields, 2 * 4usize.pow(12));
    }

    #[test]
    fn introspection_is_seen_but_its_fields_are_not_counted() {
        let s = of("{ __schema { types { name fields { name type { name ofType { name } } } } } }").unwrap();
        assert_eq!(s, Shape { fields: 1, root_fields: 1, introspection: true });
        let s = of("query { ...I } fragment I on Query { __type(name: \"Crate\") { name } }").unwrap();
        assert!(s.introspection);
        assert!(!of("{ __typename me { __typename } }").unwrap().introspection);
    }

    #[test]
    fn cycles_and_deep_documents_stop() {
        assert_eq!(of("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"), Err(ShapeError::TooDeep));
        // The parser bounds the nesting of one selection set; a chain of fragments goes deeper.
        let mut doc = String::from("{ ...F0 }\nfragment F100 on Query { me { login } }\n");
        for i in 0..100 {
            doc.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1));
        }
        assert_eq!(of(&doc), Err(ShapeError::TooDeep));
    }

    #[test]
    fn the_budget_fails_once_over_and_stays_failed() {
        let budget = ResponseBudget::new(100);
        assert!(budget.charge(60).is_ok());
        assert!(!budget.exceeded());
        assert!(budget.charge(60).is_err());
        assert!(budget.exceeded());
        assert!(budget.charge(0).is_err());
    }
}
