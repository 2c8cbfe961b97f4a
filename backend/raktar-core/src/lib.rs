//! Raktar's core: domain types and services, the single-table model, and the storage ports.
//!
//! Layers (top to bottom): `services` (publish, index, yank, owners, search, tokens, users,
//! downloads) use `model` (entities and typed keys) over the `store` ports. Drivers implement the
//! ports in `raktar-store`; edges (HTTP, CLI) call services only.

pub mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub mod domain;
pub mod model;
pub mod services;

pub use services::{Registry, RegistryConfig};
