//! A packaged `Cargo.toml` turned into the publish metadata cargo's `publish` would have sent for it
//! (dependencies in cargo's order, registries recorded as the module docs of [`super`] describe).

use std::collections::BTreeMap;

use super::super::publish::{PublishDep, PublishMetadata};
use super::ImportSettings;
use super::cfg::normalize_platform;

fn string_field(table: &toml::Table, key: &str, what: &str) -> Result<Option<String>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{what}.{key}` must be a string (is the manifest normalized?)")),
    }
}

fn string_list(table: &toml::Table, key: &str, what: &str) -> Result<Vec<String>, String> {
    match table.get(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(values)) => values
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("`{what}.{key}` must list strings")))
            .collect(),
        Some(_) => Err(format!("`{what}.{key}` must be a list of strings (is the manifest normalized?)")),
    }
}

/// Builds the publish metadata cargo would send for this packaged manifest. `readme` is the README
/// found in the archive (path in the package, contents).
pub(super) fn metadata_from_manifest(
    manifest: &toml::Table,
    readme: Option<(String, String)>,
    settings: &ImportSettings,
) -> Result<PublishMetadata, String> {
    let package = match manifest.get("package").or_else(|| manifest.get("project")) {
        Some(toml::Value::Table(t)) => t,
        _ => return Err("the packaged Cargo.toml has no [package]".into()),
    };
    let p = "package";
    let name = string_field(package, "name", p)?.ok_or("the packaged Cargo.toml has no package name")?;
    let vers = string_field(package, "version", p)?.ok_or("the packaged Cargo.toml has no package version")?;

    let mut deps = Vec::new();
    collect_deps(manifest, None, settings, &mut deps)?;
    if let Some(targets) = manifest.get("target") {
        let targets = targets.as_table().ok_or("`target` must be a table")?;
        // cargo walks targets in key order (a sorted map).
        let sorted: BTreeMap<&String, &toml::Value> = targets.iter().collect();
        for (platform, table) in sorted {
            let table = table.as_table().ok_or_else(|| format!("`target.{platform}` must be a table"))?;
            collect_deps(table, Some(&normalize_platform(platform)), settings, &mut deps)?;
        }
    }

    let features = match manifest.get("features") {
        None => BTreeMap::new(),
        Some(toml::Value::Table(t)) => t
            .iter()
            .map(|(k, v)| {
                let values = v
                    .as_array()
                    .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| format!("feature `{k}` must be a list of strings"))?;
                Ok((k.clone(), values))
            })
            .collect::<Result<_, String>>()?,
        Some(_) => return Err("`features` must be a table".into()),
    };

    let (readme_file, readme) = match readme {
        Some((path, contents)) => (Some(path), Some(contents)),
        None => (None, None),
    };
    Ok(PublishMetadata {
        name,
        vers,
        deps,
        features,
        authors: string_list(package, "authors", p)?,
        description: string_field(package, "description", p)?,
        documentation: string_field(package, "documentation", p)?,
        homepage: string_field(package, "homepage", p)?,
        readme,
        readme_file,
        keywords: string_list(package, "keywords", p)?,
        categories: string_list(package, "categories", p)?,
        license: string_field(package, "license", p)?,
        license_file: string_field(package, "license-file", p)?,
        repository: string_field(package, "repository", p)?,
        links: string_field(package, "links", p)?,
        rust_version: string_field(package, "rust-version", p)?,
    })
}

/// Appends the dependencies of one table (the manifest root or a `target.X` table) in cargo's
/// order: normal, dev, build for the root; normal, build, dev for a target; each sorted by key.
fn collect_deps(
    table: &toml::Table,
    platform: Option<&str>,
    settings: &ImportSettings,
    out: &mut Vec<PublishDep>,
) -> Result<(), String> {
    let kinds: [(&str, &str, &str); 3] = if platform.is_none() {
        [
            ("dependencies", "dependencies", "normal"),
            ("dev-dependencies", "dev_dependencies", "dev"),
            ("build-dependencies", "build_dependencies", "build"),
        ]
    } else {
        [
            ("dependencies", "dependencies", "normal"),
            ("build-dependencies", "build_dependencies", "build"),
            ("dev-dependencies", "dev_dependencies", "dev"),
        ]
    };
    for (key, legacy_key, kind) in kinds {
        // The hyphenated spelling wins over the legacy underscore one (as in cargo).
        let Some(deps) = table.get(key).or_else(|| table.get(legacy_key)) else { continue };
        let deps = deps.as_table().ok_or_else(|| format!("`{key}` must be a table"))?;
        let sorted: BTreeMap<&String, &toml::Value> = deps.iter().collect();
        for (toml_name, spec) in sorted {
            if let Some(dep) = dependency(toml_name, spec, kind, platform, settings)? {
                out.push(dep);
            }
        }
    }
    Ok(())
}

/// One dependency as cargo sends it; `None` for a dev-dependency without a version (cargo drops
/// those when publishing).
fn dependency(
    toml_name: &str,
    spec: &toml::Value,
    kind: &str,
    platform: Option<&str>,
    settings: &ImportSettings,
) -> Result<Option<PublishDep>, String> {
    let empty = toml::Table::new();
    let (version, table) = match spec {
        toml::Value::String(v) => (Some(v.clone()), &empty),
        toml::Value::Table(t) => (string_field(t, "version", toml_name)?, t),
        _ => return Err(format!("dependency `{toml_name}` must be a version string or a table")),
    };
    let Some(version) = version else {
        if kind == "dev" {
            return Ok(None);
        }
        return Err(format!("dependency `{toml_name}` has no version"));
    };
    // cargo sends the requirement as it parsed it (`1` -> `^1`).
    let version_req = semver::VersionReq::parse(version.trim())
        .map(|r| r.to_string())
        .map_err(|e| format!("dependency `{toml_name}` has an invalid version requirement `{version}`: {e}"))?;
    let bool_field = |keys: &[&str], default: bool| -> Result<bool, String> {
        match keys.iter().find_map(|k| table.get(*k)) {
            None => Ok(default),
            Some(toml::Value::Boolean(b)) => Ok(*b),
            Some(_) => Err(format!("`{}` of dependency `{toml_name}` must be true or false", keys[0])),
        }
    };
    let package = string_field(table, "package", toml_name)?;
    let registry_url = match (
        string_field(table, "registry-index", toml_name)?,
        string_field(table, "registry", toml_name)?,
    ) {
        (Some(url), _) => url,
        (None, Some(name)) => {
            return Err(format!(
                "dependency `{toml_name}` names the registry `{name}` by name; packaged manifests give the index URL (`registry-index`)"
            ));
        }
        (None, None) => settings.upstream_index.clone(),
    };
    Ok(Some(PublishDep {
        name: package.clone().unwrap_or_else(|| toml_name.to_owned()),
        version_req,
        features: string_list(table, "features", toml_name)?,
        optional: bool_field(&["optional"], false)?,
        default_features: bool_field(&["default-features", "default_features"], true)?,
        target: platform.map(str::to_owned),
        kind: Some(kind.to_owned()),
        registry: settings.registry_field(&registry_url),
        explicit_name_in_toml: package.map(|_| toml_name.to_owned()),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::services::Limits;
    use crate::services::publish::validate;

    const UPSTREAM: &str = "https://upstream.invalid/index";

    fn settings(mirror: bool) -> ImportSettings {
        ImportSettings { upstream_index: UPSTREAM.into(), mirror_of: mirror.then(|| UPSTREAM.into()) }
    }

    #[test]
    fn manifest_to_metadata() {
        let manifest: toml::Table = r#"
            [package]
            name = "demo"
            version = "1.2.3"
            description = "d"
            license = "MIT"
            keywords = ["a"]
            rust-version = "1.70"
            links = "z"

            [dependencies]
            plain = "1"
            renamed = { package = "real-name", version = ">= 1.0, < 2", optional = true, default-features = false, features = ["f"] }
            other = { version = "0.3", registry-index = "sparse+https://other.invalid/index/" }

            [dev-dependencies]
            tester = "0.1"
            pathonly = { path = "../x" }

            [build-dependencies.cc]
            version = "1.0"

            [target.'cfg(all(unix,not(target_os="macos")))'.dependencies]
            libc = "0.2"

            [features]
            default = ["x"]
            x = ["dep:renamed", "other?/feat"]
        "#
        .parse()
        .unwrap();
        let meta =
            metadata_from_manifest(&manifest, Some(("README.md".into(), "hi".into())), &settings(false)).unwrap();
        assert_eq!(meta.name, "demo");
        assert_eq!(meta.rust_version.as_deref(), Some("1.70"));
        assert_eq!(meta.readme.as_deref(), Some("hi"));
        let deps: Vec<_> = meta
            .deps
            .iter()
            .map(|d| {
                (
                    d.name.as_str(),
                    d.version_req.as_str(),
                    d.kind.as_deref().unwrap(),
                    d.registry.as_deref(),
                    d.explicit_name_in_toml.as_deref(),
                    d.target.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            deps,
            vec![
                ("other", "^0.3", "normal", Some("sparse+https://other.invalid/index/"), None, None),
                ("plain", "^1", "normal", Some(UPSTREAM), None, None),
                ("real-name", ">=1.0, <2", "normal", Some(UPSTREAM), Some("renamed"), None),
                ("tester", "^0.1", "dev", Some(UPSTREAM), None, None),
                ("cc", "^1.0", "build", Some(UPSTREAM), None, None),
                ("libc", "^0.2", "normal", Some(UPSTREAM), None, Some("cfg(all(unix, not(target_os = \"macos\")))")),
            ]
        );
        let renamed = &meta.deps[2];
        assert!(renamed.optional);
        assert!(!renamed.default_features);
        assert_eq!(renamed.features, vec!["f"]);

        // Mirror mode: upstream dependencies become same-registry; others keep their URL.
        let meta = metadata_from_manifest(&manifest, None, &settings(true)).unwrap();
        let registries: Vec<_> = meta.deps.iter().map(|d| d.registry.as_deref()).collect();
        assert_eq!(registries, vec![Some("sparse+https://other.invalid/index/"), None, None, None, None, None]);
        // The metadata passes the publish validation.
        validate(meta, &Limits::default()).unwrap();
    }

    #[test]
    fn registry_names_are_refused() {
        let manifest: toml::Table =
            "[package]\nname = \"a\"\nversion = \"1.0.0\"\n[dependencies]\nb = { version = \"1\", registry = \"x\" }\n"
                .parse()
                .unwrap();
        let err = metadata_from_manifest(&manifest, None, &settings(false)).unwrap_err();
        assert!(err.contains("registry-index"), "{err}");
    }
}
