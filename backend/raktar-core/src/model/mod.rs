//! The single-table model: entities and their typed keys.

pub mod entities;
pub mod index_line;
pub mod keys;

pub use entities::*;
pub use index_line::{IndexDep, IndexLine};
