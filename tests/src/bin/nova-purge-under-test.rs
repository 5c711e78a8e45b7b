//! The binary under test: the same `purge_cli::main` as `nova-purge`, built
//! by cargo before the integration tests so that they can spawn it.

fn main() -> std::process::ExitCode {
    purge_cli::main()
}
