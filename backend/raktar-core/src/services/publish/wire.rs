//! The publish wire format: the limits, the metadata JSON cargo sends, the framing of the
//! `PUT /api/v1/crates/new` body, and what a publish answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::PublishError;

/// Publish limits (defaults follow the public registry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest `.crate` file in bytes.
    pub max_crate_bytes: u64,
    /// Largest metadata JSON in bytes.
    pub max_json_bytes: u64,
    /// Largest unpacked size in bytes.
    pub max_unpacked_bytes: u64,
    pub max_dependencies: usize,
    pub max_features: usize,
    pub max_description_chars: usize,
    pub max_keywords: usize,
    pub max_categories: usize,
    /// READMEs up to this size stay in the version item; larger ones go to the blob store.
    pub inline_readme_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_crate_bytes: 10 * 1024 * 1024,
            max_json_bytes: 1024 * 1024,
            max_unpacked_bytes: 512 * 1024 * 1024,
            max_dependencies: 500,
            max_features: 300,
            max_description_chars: 1000,
            max_keywords: 5,
            max_categories: 5,
            inline_readme_bytes: 32 * 1024,
        }
    }
}

impl Limits {
    /// The largest publish body these limits allow (framing included).
    pub fn max_body_bytes(&self) -> u64 {
        self.max_crate_bytes + self.max_json_bytes + 8
    }
}

/// A dependency as cargo sends it in the publish metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct PublishDep {
    pub name: String,
    pub version_req: String,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default = "yes")]
    pub default_features: bool,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub registry: Option<String>,
    #[serde(default)]
    pub explicit_name_in_toml: Option<String>,
}

fn yes() -> bool {
    true
}

/// The publish metadata JSON cargo sends.
#[derive(Debug, Clone, Deserialize)]
pub struct PublishMetadata {
    pub name: String,
    pub vers: String,
    pub deps: Vec<PublishDep>,
    #[serde(default)]
    pub features: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub documentation: Option<String>,
    #[serde(default)]
    pub homepage: Option<String>,
    #[serde(default)]
    pub readme: Option<String>,
    #[serde(default)]
    pub readme_file: Option<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub license: Option<String>,
    #[serde(default)]
    pub license_file: Option<String>,
    #[serde(default)]
    pub repository: Option<String>,
    #[serde(default)]
    pub links: Option<String>,
    #[serde(default)]
    pub rust_version: Option<String>,
}

/// The result of a successful publish.
#[derive(Debug, Clone, Serialize)]
pub struct PublishOutcome {
    pub name: String,
    pub vers: String,
    pub cksum: String,
    pub warnings: PublishWarnings,
}

/// Warnings cargo prints after a publish.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublishWarnings {
    pub invalid_categories: Vec<String>,
    pub invalid_badges: Vec<String>,
    pub other: Vec<String>,
}

/// Splits the publish body: `u32 LE json length, json, u32 LE crate length, crate`.
pub fn parse_framing<'a>(body: &'a [u8], limits: &Limits) -> Result<(&'a [u8], &'a [u8]), PublishError> {
    fn read_u32(body: &[u8], at: usize, what: &str) -> Result<u32, PublishError> {
        let bytes: [u8; 4] = body.get(at..at + 4).and_then(|s| s.try_into().ok()).ok_or_else(|| {
            PublishError::Framing(format!("invalid publish request: truncated before the {what} length"))
        })?;
        Ok(u32::from_le_bytes(bytes))
    }
    let json_len = u64::from(read_u32(body, 0, "metadata")?);
    if json_len > limits.max_json_bytes {
        return Err(PublishError::TooLarge(format!(
            "the publish metadata is {json_len} bytes; the limit is {} bytes",
            limits.max_json_bytes
        )));
    }
    let json_end = 4 + json_len as usize;
    let json = body.get(4..json_end).ok_or_else(|| {
        PublishError::Framing(format!(
            "invalid publish request: the metadata length says {json_len} bytes but the body is shorter"
        ))
    })?;
    let crate_len = u64::from(read_u32(body, json_end, ".crate")?);
    if crate_len > limits.max_crate_bytes {
        return Err(PublishError::TooLarge(format!(
            "the .crate file is {crate_len} bytes; this registry accepts at most {} bytes",
            limits.max_crate_bytes
        )));
    }
    let crate_start = json_end + 4;
    let crate_end = crate_start + crate_len as usize;
    let krate = body.get(crate_start..crate_end).ok_or_else(|| {
        PublishError::Framing(format!(
            "invalid publish request: the .crate length says {crate_len} bytes but the body is shorter"
        ))
    })?;
    if body.len() != crate_end {
        return Err(PublishError::Framing(format!(
            "invalid publish request: {} unexpected bytes after the .crate file",
            body.len() - crate_end
        )));
    }
    Ok((json, krate))
}
