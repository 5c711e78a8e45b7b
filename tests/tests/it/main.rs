//! One integration-test binary (one link step) for the whole suite.

/// Generates one `#[tokio::test]` per backend for each named scenario
/// `async fn NAME(backend: Backend)` of the calling module.
macro_rules! on_every_backend {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $scenario() { super::$scenario(purge_api::Backend::Sqlite).await })*
        }
        mod mariadb {
            $(#[tokio::test] async fn $scenario() { super::$scenario(purge_api::Backend::MySql).await })*
        }
        mod postgresql {
            $(#[tokio::test] async fn $scenario() { super::$scenario(purge_api::Backend::Postgres).await })*
        }
    };
}

/// As `on_every_backend!`, for the two database servers only.
macro_rules! on_every_server {
    ($($scenario:ident),* $(,)?) => {
        mod mariadb {
            $(#[tokio::test] async fn $scenario() { super::$scenario(purge_api::Backend::MySql).await })*
        }
        mod postgresql {
            $(#[tokio::test] async fn $scenario() { super::$scenario(purge_api::Backend::Postgres).await })*
        }
    };
}

mod bad_input;
mod batching;
mod cells;
mod check;
mod config;
mod create_indexes;
mod export;
mod jobs;
mod purge;
mod registry;
mod restore;
mod scopes;
mod secrets;
