//! Deterministic generation of a realistic registry: crates, version histories, dependencies,
//! features, metadata, `.crate` tarballs and publish request bodies.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::Arc;

use anyhow::{Context as _, Result, ensure};
use raktar_core::testkit::fixtures;
use serde_json::{Value, json};

/// SplitMix64: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Option<String>,
}

impl Version {
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self { major, minor, patch, pre: None }
    }

    /// The caret requirement a user would write for this version.
    fn caret_req(&self, rng: &mut Rng) -> String {
        if rng.chance(0.5) {
            format!("{}.{}.{}", self.major, self.minor, self.patch)
        } else if self.major == 0 {
            format!("0.{}", self.minor)
        } else {
            format!("{}.{}", self.major, self.minor)
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if let Some(pre) = &self.pre {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

/// A plausible release history of `n` versions, ascending, never ending on a pre-release.
fn history(rng: &mut Rng, n: usize) -> Vec<Version> {
    let mut out = vec![Version::new(0, 1, 0)];
    while out.len() < n {
        let last = out[out.len() - 1].clone();
        let remaining = n - out.len();
        let roll = rng.below(100);
        if roll < 4 && remaining >= 3 {
            // A major release, announced by one or two pre-releases.
            let next = if last.major == 0 { Version::new(1, 0, 0) } else { Version::new(last.major + 1, 0, 0) };
            out.push(Version { pre: Some("alpha.1".into()), ..next.clone() });
            if remaining >= 4 && rng.chance(0.5) {
                out.push(Version { pre: Some("beta.1".into()), ..next.clone() });
            }
            out.push(next);
        } else if roll < 25 {
            out.push(Version::new(last.major, last.minor + 1, 0));
        } else {
            out.push(Version::new(last.major, last.minor, last.patch + 1));
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DepKind {
    Normal,
    Dev,
    Build,
}

impl DepKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Dev => "dev",
            Self::Build => "build",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Dep {
    pub name: String,
    pub req: String,
    pub kind: DepKind,
    pub optional: bool,
    pub default_features: bool,
    pub features: Vec<String>,
    pub target: Option<String>,
}

/// Metadata shared by all versions of a crate.
#[derive(Debug)]
pub struct CrateMeta {
    pub description: String,
    pub keywords: Vec<String>,
    pub categories: Vec<String>,
    pub repository: Option<String>,
    pub homepage: Option<String>,
    pub documentation: Option<String>,
    pub readme: Option<String>,
}

/// One version to publish.
#[derive(Clone, Debug)]
pub struct Release {
    pub name: String,
    pub vers: Version,
    pub deps: Vec<Dep>,
    pub features: BTreeMap<String, Vec<String>>,
    pub rust_version: Option<String>,
    pub meta: Arc<CrateMeta>,
}

impl Release {
    /// The publish request body: u32 LE JSON length, JSON, u32 LE crate length, `.crate`.
    pub fn publish_body(&self) -> Result<Vec<u8>> {
        let deps: Vec<Value> = self
            .deps
            .iter()
            .map(|d| {
                json!({
                    "name": d.name,
                    "version_req": d.req,
                    "features": d.features,
                    "optional": d.optional,
                    "default_features": d.default_features,
                    "target": d.target,
                    "kind": d.kind.as_str(),
                    "registry": null,
                })
            })
            .collect();
        let meta = &self.meta;
        let metadata = json!({
            "name": self.name,
            "vers": self.vers.to_string(),
            "deps": deps,
            "features": self.features,
            "authors": ["Bench Bot <bench@example.invalid>"],
            "description": meta.description,
            "documentation": meta.documentation,
            "homepage": meta.homepage,
            "readme": meta.readme,
            "readme_file": meta.readme.as_ref().map(|_| "README.md"),
            "keywords": meta.keywords,
            "categories": meta.categories,
            "license": "MIT OR Apache-2.0",
            "license_file": null,
            "repository": meta.repository,
            "badges": {},
            "links": null,
            "rust_version": self.rust_version,
        });
        let json = serde_json::to_vec(&metadata).context("encoding publish metadata")?;
        let tarball = self.tarball()?;
        // The testkit's framing (the same one the publish tests send).
        ensure!(
            u32::try_from(json.len()).is_ok() && u32::try_from(tarball.len()).is_ok(),
            "publish body part too large"
        );
        Ok(fixtures::frame(&json, &tarball))
    }

    /// A gzip tarball with `{name}-{vers}/Cargo.toml`, `src/lib.rs` and the README, built by the
    /// workspace's one fixture builder (`raktar_core::testkit::fixtures::CrateTarball`).
    pub fn tarball(&self) -> Result<Vec<u8>> {
        let mut manifest = format!(
            "[package]\nedition = \"2021\"\nname = {}\nversion = {}\ndescription = {}\nlicense = \"MIT OR Apache-2.0\"\n",
            toml_str(&self.name),
            toml_str(&self.vers.to_string()),
            toml_str(&self.meta.description),
        );
        if let Some(rv) = &self.rust_version {
            manifest.push_str(&format!("rust-version = {}\n", toml_str(rv)));
        }
        let lib = format!(
            "//! {}\n\n/// Returns the crate's version.\npub fn version() -> &'static str {{\n    \"{}\"\n}}\n",
            self.meta.description, self.vers
        );
        let mut tarball =
            fixtures::CrateTarball::new(&self.name, &self.vers.to_string()).manifest(&manifest).file("src/lib.rs", lib);
        if let Some(readme) = &self.meta.readme {
            tarball = tarball.file("README.md", readme.as_bytes());
        }
        Ok(tarball.build())
    }
}

fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The lowercased sparse-index path of a crate name: `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd`.
pub fn index_path(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    match n.len() {
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", &n[..1]),
        _ => format!("{}/{}/{n}", &n[..2], &n[2..4]),
    }
}

/// Normalized name for uniqueness (lowercase, `-` = `_`).
pub fn normalized(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

struct Family {
    prefix: &'static str,
    topic: &'static str,
    keywords: &'static [&'static str],
    categories: &'static [&'static str],
}

const FAMILIES: &[Family] = &[
    Family {
        prefix: "tide",
        topic: "async runtime",
        keywords: &["async", "runtime", "futures", "io", "executor"],
        categories: &["asynchronous", "network-programming"],
    },
    Family {
        prefix: "coral",
        topic: "serialization framework",
        keywords: &["serde", "serialization", "json", "encoding", "derive"],
        categories: &["encoding", "parser-implementations"],
    },
    Family {
        prefix: "lumen",
        topic: "structured logging and tracing",
        keywords: &["log", "tracing", "telemetry", "metrics", "diagnostics"],
        categories: &["development-tools::debugging"],
    },
    Family {
        prefix: "falcon",
        topic: "HTTP server toolkit",
        keywords: &["http", "server", "web", "router", "middleware"],
        categories: &["web-programming::http-server", "network-programming"],
    },
    Family {
        prefix: "sable",
        topic: "cryptography primitives",
        keywords: &["crypto", "hash", "aead", "signature", "random"],
        categories: &["cryptography"],
    },
    Family {
        prefix: "vortex",
        topic: "command-line argument parser",
        keywords: &["cli", "args", "parser", "terminal", "command"],
        categories: &["command-line-interface"],
    },
    Family {
        prefix: "zephyr",
        topic: "compression codecs",
        keywords: &["compression", "zstd", "gzip", "deflate", "stream"],
        categories: &["compression"],
    },
    Family {
        prefix: "tundra",
        topic: "database access layer",
        keywords: &["sql", "database", "sqlite", "postgres", "orm"],
        categories: &["database"],
    },
    Family {
        prefix: "quartz",
        topic: "date, time and scheduling",
        keywords: &["time", "date", "cron", "scheduler", "timezone"],
        categories: &["date-and-time"],
    },
    Family {
        prefix: "prism",
        topic: "image processing",
        keywords: &["image", "graphics", "png", "jpeg", "resize"],
        categories: &["multimedia::images", "graphics"],
    },
    Family {
        prefix: "nimbus",
        topic: "cloud storage client",
        keywords: &["s3", "storage", "cloud", "object-store", "client"],
        categories: &["api-bindings", "web-programming::http-client"],
    },
    Family {
        prefix: "ember",
        topic: "HTML templating engine",
        keywords: &["template", "html", "render", "jinja", "web"],
        categories: &["template-engine", "web-programming"],
    },
    Family {
        prefix: "orbit",
        topic: "embedded hardware abstraction",
        keywords: &["embedded", "hal", "no-std", "gpio", "spi"],
        categories: &["embedded", "no-std", "hardware-support"],
    },
    Family {
        prefix: "harbor",
        topic: "container image tooling",
        keywords: &["docker", "oci", "container", "image", "registry"],
        categories: &["command-line-utilities", "development-tools"],
    },
];

/// Components of a family, in publish order after `core`, with what they add.
const COMPONENTS: &[(&str, &str)] = &[
    ("macros", "procedural macros"),
    ("types", "shared types"),
    ("io", "I/O adapters"),
    ("util", "utilities"),
    ("codec", "encoders and decoders"),
    ("config", "configuration loading"),
    ("test-utils", "test helpers"),
    ("cli", "a command-line interface"),
    ("sync", "synchronization primitives"),
];

/// Special names that exercise every index path shape and case handling.
const SPECIALS: &[(&str, &str, &str)] = &[
    ("a", "A one-letter crate that re-exports the workspace prelude", "prelude"),
    ("kv", "Embedded key-value store with crash-safe writes", "database"),
    ("ack", "Acknowledgement tracking for at-least-once message delivery", "queue"),
    ("PolarBear", "Arctic-themed game engine scaffolding with ECS and asset hot reloading", "game"),
    ("snake_case_util", "Identifier case conversion: snake_case, kebab-case, CamelCase", "text"),
    ("Hyphen-Case_Mix", "Deliberately mixed separators to exercise name normalization", "text"),
];

/// A generated registry: crates in publish order and every release in publish order.
pub struct Registry {
    /// Crate names in publish order.
    pub crates: Vec<String>,
    /// Every release, in an order where dependencies are published first.
    pub releases: Vec<Release>,
}

impl Registry {
    /// The newest release of each crate (consumer dependencies point at these).
    pub fn latest(&self, name: &str) -> Option<&Release> {
        self.releases.iter().rev().find(|r| r.name == name && r.vers.pre.is_none())
    }

    pub fn version_count(&self, name: &str) -> usize {
        self.releases.iter().filter(|r| r.name == name).count()
    }
}

/// Sizes of the realistic registry.
pub struct Shape {
    /// Crates in total (at least the number of special names).
    pub crates: usize,
    /// How many crates (the foundational ones, published first) get a long history.
    pub many: usize,
    /// Version count range of those crates.
    pub many_versions: (usize, usize),
    /// Version count range of the others.
    pub other_versions: (usize, usize),
}

struct Planned {
    name: String,
    family: Option<usize>,
    meta: Arc<CrateMeta>,
    versions: Vec<Version>,
}

fn realistic_meta(rng: &mut Rng, name: &str, description: String, family: Option<&Family>) -> CrateMeta {
    let (mut keywords, categories): (Vec<String>, Vec<String>) = match family {
        Some(f) => (
            f.keywords.iter().map(|s| (*s).to_owned()).collect(),
            f.categories.iter().map(|s| (*s).to_owned()).collect(),
        ),
        None => (vec!["utility".into()], vec!["rust-patterns".into()]),
    };
    rng.shuffle(&mut keywords);
    keywords.truncate(rng.range(2, 5).min(keywords.len()));
    let lower = name.to_ascii_lowercase();
    let readme = format!(
        "# {name}\n\n{description}.\n\n## Usage\n\nAdd this to your `Cargo.toml`:\n\n```toml\n[dependencies]\n{name} = {{ version = \"*\", registry = \"internal\" }}\n```\n\n## License\n\nLicensed under either of Apache License, Version 2.0 or MIT license at your option.\n"
    );
    CrateMeta {
        description,
        keywords,
        categories,
        repository: Some(format!("https://git.example.invalid/platform/{lower}")),
        homepage: rng.chance(0.3).then(|| format!("https://{lower}.example.invalid")),
        documentation: Some(format!("https://docs.example.invalid/{lower}")),
        readme: Some(readme),
    }
}

/// Generates the realistic registry described by `shape`, deterministically.
pub fn realistic(shape: &Shape) -> Registry {
    let mut rng = Rng::new(0x5EED_0001);
    // Crate list: the cores of every family first (the most depended-upon, with the longest
    // histories), then the special names, then family components round-robin.
    let mut planned: Vec<Planned> = Vec::new();
    let families = FAMILIES.len().min(shape.crates.saturating_sub(SPECIALS.len()).max(1));
    for (fi, fam) in FAMILIES.iter().take(families).enumerate() {
        let name = format!("{}-core", fam.prefix);
        let desc = format!("Core traits and types of the {} stack", fam.topic);
        let meta = realistic_meta(&mut rng, &name, desc, Some(fam));
        planned.push(Planned { name, family: Some(fi), meta: Arc::new(meta), versions: Vec::new() });
    }
    for (name, desc, kw) in SPECIALS.iter().take(shape.crates.saturating_sub(planned.len())) {
        let mut meta = realistic_meta(&mut rng, name, (*desc).to_owned(), None);
        meta.keywords.push((*kw).to_owned());
        planned.push(Planned { name: (*name).to_owned(), family: None, meta: Arc::new(meta), versions: Vec::new() });
    }
    'outer: for (component, what) in COMPONENTS {
        for (fi, fam) in FAMILIES.iter().take(families).enumerate() {
            if planned.len() >= shape.crates {
                break 'outer;
            }
            let name = format!("{}-{component}", fam.prefix);
            let desc = format!("{} for the {} stack", capitalize(what), fam.topic);
            let meta = realistic_meta(&mut rng, &name, desc, Some(fam));
            planned.push(Planned { name, family: Some(fi), meta: Arc::new(meta), versions: Vec::new() });
        }
    }
    for (i, p) in planned.iter_mut().enumerate() {
        let n = if i < shape.many {
            rng.range(shape.many_versions.0, shape.many_versions.1)
        } else {
            rng.range(shape.other_versions.0, shape.other_versions.1)
        };
        p.versions = history(&mut rng, n);
    }

    let mut releases = Vec::new();
    for i in 0..planned.len() {
        let p = &planned[i];
        // Candidate dependencies: earlier crates; the same family's crates are preferred.
        let same_family: Vec<usize> = (0..i).filter(|j| p.family.is_some() && planned[*j].family == p.family).collect();
        let others: Vec<usize> = (0..i).filter(|j| !same_family.contains(j)).collect();
        let mut chosen: Vec<(usize, DepKind, bool, Option<&'static str>)> = Vec::new();
        let mut taken = HashSet::new();
        let mut take = |j: usize, chosen: &mut Vec<_>, kind, optional, target| {
            if taken.insert(j) {
                chosen.push((j, kind, optional, target));
            }
        };
        if i > 0 {
            for &j in same_family.iter().take(rng.range(1, 2)) {
                take(j, &mut chosen, DepKind::Normal, false, None);
            }
            if !others.is_empty() {
                for _ in 0..rng.range(0, 3) {
                    let j = *rng.pick(&others);
                    take(j, &mut chosen, DepKind::Normal, false, None);
                }
                if rng.chance(0.45) {
                    let j = *rng.pick(&others);
                    take(j, &mut chosen, DepKind::Normal, true, None);
                }
                if rng.chance(0.2) {
                    let j = *rng.pick(&others);
                    take(j, &mut chosen, DepKind::Build, false, None);
                }
                if rng.chance(0.2) {
                    let j = *rng.pick(&others);
                    let target = *rng.pick(&["cfg(unix)", "cfg(windows)", "cfg(target_os = \"linux\")"]);
                    take(j, &mut chosen, DepKind::Normal, false, Some(target));
                }
                for _ in 0..rng.range(0, 2) {
                    let j = *rng.pick(&others);
                    take(j, &mut chosen, DepKind::Dev, false, None);
                }
            }
        }
        let v2_style = rng.chance(0.5);
        let count = p.versions.len();
        // Each dependency appears from some version on (most from the first one).
        let since: Vec<usize> = chosen.iter().map(|_| if rng.chance(0.7) { 0 } else { rng.below(count) }).collect();
        for (k, vers) in p.versions.iter().enumerate() {
            let mut deps = Vec::new();
            let mut features: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut std_feature = Vec::new();
            let mut full = vec!["std".to_owned()];
            for (c, &(j, kind, optional, target)) in chosen.iter().enumerate() {
                if since[c] > k {
                    continue;
                }
                let dep = &planned[j];
                let stable: Vec<&Version> = dep.versions.iter().filter(|v| v.pre.is_none()).collect();
                // Older versions of this crate depend on older versions of the dependency.
                let pos = (k * stable.len() / count).min(stable.len() - 1);
                let req = stable[pos].caret_req(&mut rng);
                let mut dep_features = Vec::new();
                if kind == DepKind::Normal && target.is_none() {
                    if optional {
                        if v2_style {
                            features.insert(
                                dep.name.clone(),
                                vec![format!("dep:{}", dep.name), format!("{}?/std", dep.name)],
                            );
                        }
                        full.push(dep.name.clone());
                    } else {
                        std_feature.push(format!("{}/std", dep.name));
                        if rng.chance(0.2) {
                            dep_features.push("std".to_owned());
                        }
                    }
                }
                deps.push(Dep {
                    name: dep.name.clone(),
                    req,
                    kind,
                    optional,
                    default_features: !(kind == DepKind::Normal && rng.chance(0.15)),
                    features: dep_features,
                    target: target.map(str::to_owned),
                });
            }
            features.insert("std".into(), std_feature);
            features.insert("default".into(), vec!["std".into()]);
            features.insert("full".into(), full);
            let rust_version = (k * 3 >= count).then(|| format!("1.{}", 60 + (k * 20 / count)));
            releases.push(Release {
                name: p.name.clone(),
                vers: vers.clone(),
                deps,
                features,
                rust_version,
                meta: Arc::clone(&p.meta),
            });
        }
    }
    Registry { crates: planned.into_iter().map(|p| p.name).collect(), releases }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

const ADJECTIVES: &[&str] = &[
    "swift", "tiny", "lazy", "bright", "silent", "rapid", "sturdy", "nimble", "quiet", "bold", "clever", "humble",
    "lucid", "mellow", "noble", "proud", "rustic", "solid", "tidy", "vivid", "amber", "azure", "crimson", "golden",
    "ivory", "jade", "scarlet", "silver", "violet", "olive", "arctic", "desert", "forest", "harbor", "island",
    "meadow", "prairie", "river", "summit", "valley", "atomic", "binary", "cosmic", "digital", "electric", "hyper",
    "micro", "nano", "quantum", "turbo",
];

const NOUNS: &[(&str, &str, &str)] = &[
    ("http", "HTTP client", "http"),
    ("json", "JSON parser", "json"),
    ("yaml", "YAML reader", "yaml"),
    ("toml", "TOML editor", "toml"),
    ("csv", "CSV reader and writer", "csv"),
    ("xml", "streaming XML parser", "xml"),
    ("regex", "regular expression engine", "regex"),
    ("hash", "non-cryptographic hash functions", "hash"),
    ("crypto", "cryptographic toolkit", "crypto"),
    ("tls", "TLS configuration helper", "tls"),
    ("cache", "in-memory cache", "cache"),
    ("queue", "lock-free queue", "concurrency"),
    ("pool", "connection pool", "pool"),
    ("db", "database driver", "database"),
    ("sql", "SQL query builder", "sql"),
    ("orm", "object-relational mapper", "orm"),
    ("cli", "command-line argument parser", "cli"),
    ("term", "terminal colors and styling", "terminal"),
    ("log", "logging facade", "logging"),
    ("trace", "distributed tracing layer", "tracing"),
    ("metrics", "metrics exporter", "metrics"),
    ("config", "layered configuration loader", "config"),
    ("env", "environment variable parser", "env"),
    ("fs", "filesystem utilities", "filesystem"),
    ("path", "path manipulation helpers", "path"),
    ("io", "async I/O adapters", "async"),
    ("net", "networking primitives", "network"),
    ("dns", "DNS resolver", "dns"),
    ("grpc", "gRPC framework", "grpc"),
    ("proto", "protocol buffers codec", "protobuf"),
    ("zip", "ZIP archive reader", "compression"),
    ("gzip", "gzip stream compression", "compression"),
    ("image", "image decoding", "image"),
    ("audio", "audio sample processing", "audio"),
    ("video", "video frame utilities", "video"),
    ("math", "linear algebra routines", "math"),
    ("rand", "random number generation", "random"),
    ("time", "date and time library", "time"),
    ("uuid", "UUID generation and parsing", "uuid"),
    ("url", "URL parsing", "url"),
    ("auth", "authentication middleware", "auth"),
    ("jwt", "JSON Web Token validation", "jwt"),
    ("web", "web framework", "web"),
    ("router", "HTTP request router", "router"),
    ("actor", "actor framework", "actor"),
    ("task", "async task scheduler", "async"),
    ("test", "property-based testing helpers", "testing"),
    ("bench", "benchmark harness", "benchmark"),
    ("macro", "derive macro helpers", "macro"),
    ("ffi", "C FFI bindings generator", "ffi"),
];

const SUFFIXES: &[&str] = &["", "rs", "lite", "ng"];

const PURPOSES: &[&str] = &[
    "internal services",
    "embedded devices",
    "high-throughput pipelines",
    "command-line tools",
    "web backends",
    "data engineering jobs",
    "game servers",
    "build tooling",
];

/// Single-version crates with varied names and descriptions for the search corpus, skipping names
/// in `existing` (normalized). Returns at most `count` releases.
pub fn search_corpus(count: usize, existing: &HashSet<String>) -> Vec<Release> {
    let mut rng = Rng::new(0x5EED_0002);
    let mut combos = Vec::new();
    for suffix in SUFFIXES {
        for adj in ADJECTIVES {
            for (ni, noun) in NOUNS.iter().enumerate() {
                combos.push((*adj, ni, *suffix, noun.0));
            }
        }
    }
    rng.shuffle(&mut combos);
    let mut out = Vec::new();
    let mut seen: HashSet<String> = existing.clone();
    for (adj, ni, suffix, noun) in combos {
        if out.len() >= count {
            break;
        }
        let name = if suffix.is_empty() { format!("{adj}-{noun}") } else { format!("{adj}-{noun}-{suffix}") };
        if !seen.insert(normalized(&name)) {
            continue;
        }
        let (_, what, keyword) = NOUNS[ni];
        let second = NOUNS[rng.below(NOUNS.len())];
        let description = format!("A {adj} {what} for {}, with optional {} support", rng.pick(PURPOSES), second.1);
        let mut keywords = vec![keyword.to_owned(), second.2.to_owned()];
        keywords.dedup();
        let meta = CrateMeta {
            description,
            keywords,
            categories: Vec::new(),
            repository: Some(format!("https://git.example.invalid/misc/{name}")),
            homepage: None,
            documentation: None,
            readme: None,
        };
        let mut features = BTreeMap::new();
        features.insert("std".to_owned(), Vec::new());
        features.insert("default".to_owned(), vec!["std".to_owned()]);
        out.push(Release {
            name,
            vers: Version::new(0, rng.range(1, 9) as u64, rng.range(0, 20) as u64),
            deps: Vec::new(),
            features,
            rust_version: None,
            meta: Arc::new(meta),
        });
    }
    out
}

/// Queries for the search benchmark: words, prefixes, multi-word, exact names, misses.
pub fn search_queries() -> Vec<String> {
    [
        "http",
        "json",
        "async",
        "crypto",
        "parser",
        "cli",
        "database",
        "cache",
        "json parser",
        "web framework",
        "tracing",
        "compression",
        "swift",
        "quantum-grpc",
        "tide-core",
        "coral",
        "sable",
        "image decoding",
        "url",
        "sql query builder",
        "regex",
        "pool",
        "time",
        "uuid",
        "lock-free",
        "embedded",
        "yaml",
        "golden-http-rs",
        "polarbear",
        "snake_case",
        "zzqx-no-such-crate",
        "rand",
        "testing",
        "metrics",
        "grpc framework",
        "ser",
        "conf",
        "x",
        "tokio",
        "game",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("kv"), "2/kv");
        assert_eq!(index_path("ack"), "3/a/ack");
        assert_eq!(index_path("PolarBear"), "po/la/polarbear");
    }

    #[test]
    fn histories_end_on_a_release() {
        let mut rng = Rng::new(7);
        for n in 1..100 {
            let h = history(&mut rng, n);
            assert_eq!(h.len(), n);
            assert!(h[n - 1].pre.is_none());
        }
    }

    #[test]
    fn realistic_registry_is_consistent() {
        let reg = realistic(&Shape { crates: 90, many: 10, many_versions: (50, 80), other_versions: (1, 12) });
        assert!(reg.crates.len() >= 80);
        let mut published: HashSet<&str> = HashSet::new();
        for r in &reg.releases {
            for d in &r.deps {
                assert!(published.contains(d.name.as_str()), "{} before {}", d.name, r.name);
            }
            published.insert(&r.name);
        }
        let many = reg.crates.iter().filter(|c| reg.version_count(c) >= 50).count();
        assert!(many >= 10);
        let body = reg.releases[0].publish_body().unwrap_or_default();
        assert!(body.len() > 100);
    }
}
