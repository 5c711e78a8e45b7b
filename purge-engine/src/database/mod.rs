//! Talking to a database: URLs and connecting, the live schema, and what a
//! database error means.

pub mod errors;
pub mod schema;
pub mod server;
pub mod url;

pub use server::ServerFacts;
pub use url::{Access, DatabaseUrl};
