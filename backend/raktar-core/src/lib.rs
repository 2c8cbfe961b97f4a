//! Raktar's core: domain types and services, the single-table model, and the storage ports,
//! written once for both homes (embedded and AWS).
//!
//! Layers (top to bottom):
//! - [`services`]: every rule of the registry, on [`Registry`]: the cargo operations (publish,
//!   package verification, index, yank, owners, downloads, search), imports, read views for the
//!   GraphQL API, tokens, users and administration, audit, authentication and the one
//!   authorization check, web sessions, local passwords, single sign-on, sign-in rate limits and
//!   the orphan sweep.
//! - [`domain`]: values that are valid once parsed (names, versions, logins, scopes, crate
//!   patterns) and the one error enum, [`domain::DomainError`].
//! - [`model`]: entities, typed key constructors and the index-line format of the single table.
//! - [`store`]: the item-store and blob-store ports.
//!
//! Drivers implement the ports in other crates (`raktar-store`: SQLite and files; `raktar-aws`:
//! DynamoDB and S3) and must pass the shared suites of `testkit` (feature `testkit`). Edges (the
//! cargo protocol and web pages in `raktar-http`, the GraphQL API in `raktar-graphql`, the CLI of
//! `raktar`) call services only.

pub mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub mod domain;
pub mod model;
pub mod services;

pub use services::{Registry, RegistryConfig};
