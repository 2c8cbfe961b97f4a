//! The single-table model: entities, their typed keys, and one [`Entity`] description of each
//! (item type, key, indexes).

pub mod entities;
pub mod entity;
pub mod index_line;
pub mod keys;

pub use entities::*;
pub use entity::Entity;
pub use index_line::{IndexDep, IndexLine};
