//! Talking to a database: URLs and connecting, the live schema, what a
//! database error means, and the indexes nova-purge may add.

pub mod ddl;
pub mod errors;
pub mod schema;
pub mod server;
pub mod url;

pub use server::ServerFacts;
pub use url::{Access, DatabaseUrl};
