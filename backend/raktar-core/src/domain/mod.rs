//! Domain types: parsed at the edges, trusted inside.

pub mod error;
pub mod names;
pub mod scope;

pub use error::{DomainError, DomainResult};
pub use names::{CrateName, CrateVersion, Login, NormalizedName, index_path, parse_index_path};
pub use scope::{CratePattern, Scope};
