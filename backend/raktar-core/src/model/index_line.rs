//! The sparse-index line, exactly as cargo parses it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Feature name -> the features and dependencies it enables.
pub type FeatureMap = BTreeMap<String, Vec<String>>;

/// One dependency of an index line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDep {
    /// The name used in the dependent's code (the alias when renamed).
    pub name: String,
    pub req: String,
    pub features: Vec<String>,
    pub optional: bool,
    pub default_features: bool,
    pub target: Option<String>,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The real crate name when the dependency is renamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

/// One line of a sparse-index file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexLine {
    pub name: String,
    pub vers: String,
    pub deps: Vec<IndexDep>,
    pub cksum: String,
    pub features: BTreeMap<String, Vec<String>>,
    pub yanked: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features2: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rust_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pubtime: Option<String>,
}

impl IndexLine {
    /// Compact JSON, no trailing newline.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Splits features into `features` and `features2`: a feature whose values use `dep:` or `?/`
    /// syntax (or that refers, transitively, to such a feature) goes to `features2`, and the line
    /// becomes `v: 2` when `features2` is not empty.
    pub fn split_features(all: FeatureMap) -> (FeatureMap, Option<FeatureMap>) {
        let mut new_syntax: std::collections::BTreeSet<String> = all
            .iter()
            .filter(|(_, vals)| vals.iter().any(|v| v.starts_with("dep:") || v.contains("?/")))
            .map(|(k, _)| k.clone())
            .collect();
        loop {
            let more: Vec<String> = all
                .iter()
                .filter(|(k, vals)| !new_syntax.contains(*k) && vals.iter().any(|v| new_syntax.contains(v)))
                .map(|(k, _)| k.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            new_syntax.extend(more);
        }
        if new_syntax.is_empty() {
            return (all, None);
        }
        let (f2, f1): (BTreeMap<_, _>, BTreeMap<_, _>) = all.into_iter().partition(|(k, _)| new_syntax.contains(k));
        (f1, Some(f2))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn features2_split_is_transitive() {
        let mut all = BTreeMap::new();
        all.insert("a".to_owned(), vec!["dep:x".to_owned()]);
        all.insert("b".to_owned(), vec!["a".to_owned()]);
        all.insert("c".to_owned(), vec!["y?/z".to_owned()]);
        all.insert("d".to_owned(), vec!["e".to_owned()]);
        all.insert("e".to_owned(), vec![]);
        let (f1, f2) = IndexLine::split_features(all);
        let f2 = f2.unwrap();
        assert_eq!(f1.keys().collect::<Vec<_>>(), vec!["d", "e"]);
        assert_eq!(f2.keys().collect::<Vec<_>>(), vec!["a", "b", "c"]);
    }

    #[test]
    fn line_shape() {
        let line = IndexLine {
            name: "Foo".into(),
            vers: "1.0.0+b".into(),
            deps: vec![IndexDep {
                name: "alias".into(),
                req: "^1".into(),
                features: vec![],
                optional: false,
                default_features: true,
                target: None,
                kind: "normal".into(),
                registry: None,
                package: Some("real".into()),
            }],
            cksum: "ab".into(),
            features: BTreeMap::new(),
            yanked: false,
            links: None,
            v: None,
            features2: None,
            rust_version: Some("1.70".into()),
            pubtime: Some("2026-01-01T00:00:00Z".into()),
        };
        assert_eq!(
            line.to_json().unwrap(),
            r#"{"name":"Foo","vers":"1.0.0+b","deps":[{"name":"alias","req":"^1","features":[],"optional":false,"default_features":true,"target":null,"kind":"normal","package":"real"}],"cksum":"ab","features":{},"yanked":false,"rust_version":"1.70","pubtime":"2026-01-01T00:00:00Z"}"#
        );
    }
}
