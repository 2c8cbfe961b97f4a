//! Validation of publish metadata: every field parsed into domain types and checked against the
//! registry's rules and limits before anything else happens.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::names::truncate_for_message;
use crate::domain::{CrateName, CrateVersion, NormalizedName};
use crate::model::IndexDep;

use super::error::PublishError;
use super::wire::{Limits, PublishMetadata};

/// Metadata after validation: every field parsed into domain types.
#[derive(Debug, Clone)]
pub struct ValidatedPublish {
    pub name: CrateName,
    pub version: CrateVersion,
    pub line_deps: Vec<IndexDep>,
    pub features: BTreeMap<String, Vec<String>>,
    pub meta: PublishMetadata,
    /// Normalized names of dependencies that must exist in this registry.
    pub local_deps: BTreeSet<NormalizedName>,
}

fn check_len(field: &str, value: &Option<String>, max: usize) -> Result<(), PublishError> {
    if let Some(v) = value
        && v.chars().count() > max
    {
        return Err(PublishError::metadata(format!("`{field}` is too long: at most {max} characters are allowed")));
    }
    Ok(())
}

fn valid_feature_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else { return false };
    name.len() <= 100
        && (first.is_ascii_alphanumeric() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.'))
}

fn valid_keyword(k: &str) -> bool {
    let mut chars = k.chars();
    k.len() <= 20
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
}

/// Parses `rust_version`: `1.70` or `1.70.0`, no operator, no pre-release.
fn valid_rust_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Validates metadata against the registry's rules (names, versions, limits, dependencies, features).
pub fn validate(meta: PublishMetadata, limits: &Limits) -> Result<ValidatedPublish, PublishError> {
    let name = CrateName::parse(&meta.name).map_err(PublishError::metadata_from)?;
    if name.is_reserved() {
        return Err(PublishError::metadata(format!("the crate name `{name}` is reserved")));
    }
    let version = CrateVersion::parse(&meta.vers).map_err(PublishError::metadata_from)?;
    check_len("description", &meta.description, limits.max_description_chars)?;
    for (field, value) in [
        ("homepage", &meta.homepage),
        ("documentation", &meta.documentation),
        ("repository", &meta.repository),
        ("license", &meta.license),
        ("license_file", &meta.license_file),
        ("readme_file", &meta.readme_file),
    ] {
        check_len(field, value, 1024)?;
    }
    if meta.keywords.len() > limits.max_keywords {
        return Err(PublishError::metadata(format!(
            "too many keywords ({}): at most {} are allowed",
            meta.keywords.len(),
            limits.max_keywords
        )));
    }
    if let Some(k) = meta.keywords.iter().find(|k| !valid_keyword(k)) {
        return Err(PublishError::metadata(format!(
            "invalid keyword `{}`: at most 20 ASCII letters, digits, `_`, `-` or `+`, starting with a letter or digit",
            truncate_for_message(k)
        )));
    }
    if meta.categories.len() > limits.max_categories {
        return Err(PublishError::metadata(format!(
            "too many categories ({}): at most {} are allowed",
            meta.categories.len(),
            limits.max_categories
        )));
    }
    if meta.categories.iter().any(|c| c.is_empty() || c.len() > 100) {
        return Err(PublishError::metadata("invalid category: categories must be 1 to 100 characters"));
    }
    if meta.authors.len() > 100 || meta.authors.iter().any(|a| a.len() > 256) {
        return Err(PublishError::metadata("too many or too long `authors` entries"));
    }
    if let Some(links) = &meta.links
        && (links.is_empty()
            || links.len() > 64
            || !links.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(PublishError::metadata("invalid `links` value"));
    }
    if let Some(rv) = &meta.rust_version
        && !valid_rust_version(rv)
    {
        return Err(PublishError::metadata(format!(
            "invalid `rust-version` `{}`: use a bare version like `1.70` or `1.70.0`",
            truncate_for_message(rv)
        )));
    }
    if meta.deps.len() > limits.max_dependencies {
        return Err(PublishError::metadata(format!(
            "too many dependencies ({}): at most {} are allowed",
            meta.deps.len(),
            limits.max_dependencies
        )));
    }

    let mut line_deps = Vec::with_capacity(meta.deps.len());
    let mut local_deps = BTreeSet::new();
    // Names a feature may refer to: every dependency (by its name in the index) -> optional?
    let mut dep_names: BTreeMap<String, bool> = BTreeMap::new();
    for dep in &meta.deps {
        let real =
            CrateName::parse(&dep.name).map_err(|e| PublishError::metadata(format!("invalid dependency: {e}")))?;
        let req = dep.version_req.trim();
        semver::VersionReq::parse(req).map_err(|e| {
            PublishError::metadata(format!(
                "invalid version requirement `{}` for dependency `{real}`: {e}",
                truncate_for_message(req)
            ))
        })?;
        let kind = match dep.kind.as_deref() {
            None | Some("normal") => "normal",
            Some("dev") => "dev",
            Some("build") => "build",
            Some(other) => {
                return Err(PublishError::metadata(format!(
                    "invalid kind `{}` for dependency `{real}`: expected normal, dev or build",
                    truncate_for_message(other)
                )));
            }
        };
        if let Some(t) = &dep.target
            && (t.is_empty() || t.len() > 512)
        {
            return Err(PublishError::metadata(format!("invalid target for dependency `{real}`")));
        }
        if let Some(r) = &dep.registry
            && (r.is_empty() || r.len() > 512 || r.chars().any(char::is_whitespace))
        {
            return Err(PublishError::metadata(format!("invalid registry URL for dependency `{real}`")));
        }
        if dep.features.len() > limits.max_features || dep.features.iter().any(|f| f.is_empty() || f.len() > 200) {
            return Err(PublishError::metadata(format!("invalid features for dependency `{real}`")));
        }
        let (index_name, package) = match &dep.explicit_name_in_toml {
            Some(alias) => {
                let alias = CrateName::parse(alias)
                    .map_err(|e| PublishError::metadata(format!("invalid renamed dependency: {e}")))?;
                (alias.as_str().to_owned(), Some(real.as_str().to_owned()))
            }
            None => (real.as_str().to_owned(), None),
        };
        let entry = dep_names.entry(index_name.clone()).or_insert(false);
        *entry |= dep.optional;
        if dep.registry.is_none() {
            local_deps.insert(real.normalized());
        }
        line_deps.push(IndexDep {
            name: index_name,
            req: req.to_owned(),
            features: dep.features.clone(),
            optional: dep.optional,
            default_features: dep.default_features,
            target: dep.target.clone(),
            kind: kind.to_owned(),
            registry: dep.registry.clone(),
            package,
        });
    }

    if meta.features.len() > limits.max_features {
        return Err(PublishError::metadata(format!(
            "too many features ({}): at most {} are allowed",
            meta.features.len(),
            limits.max_features
        )));
    }
    for (feature, values) in &meta.features {
        if !valid_feature_name(feature) {
            return Err(PublishError::metadata(format!("invalid feature name `{}`", truncate_for_message(feature))));
        }
        if values.len() > 1000 {
            return Err(PublishError::metadata(format!("feature `{feature}` has too many values")));
        }
        for value in values {
            check_feature_value(feature, value, &meta.features, &dep_names)?;
        }
    }

    Ok(ValidatedPublish { name, version, line_deps, features: meta.features.clone(), meta, local_deps })
}

/// A feature value must point at something that exists, or cargo marks the version invalid forever.
fn check_feature_value(
    feature: &str,
    value: &str,
    features: &BTreeMap<String, Vec<String>>,
    deps: &BTreeMap<String, bool>,
) -> Result<(), PublishError> {
    let err = |why: &str| {
        Err(PublishError::metadata(format!(
            "feature `{feature}` has an invalid value `{}`: {why}",
            truncate_for_message(value)
        )))
    };
    if let Some(dep) = value.strip_prefix("dep:") {
        return match deps.get(dep) {
            Some(true) => Ok(()),
            Some(false) => err("`dep:` needs an optional dependency"),
            None => err("no such dependency"),
        };
    }
    if let Some((dep, feat)) = value.split_once('/') {
        let dep = dep.strip_suffix('?').unwrap_or(dep);
        if feat.is_empty() {
            return err("missing feature after `/`");
        }
        return if deps.contains_key(dep) { Ok(()) } else { err("no such dependency") };
    }
    if features.contains_key(value) || deps.get(value) == Some(&true) {
        Ok(())
    } else {
        err("no such feature or optional dependency")
    }
}
