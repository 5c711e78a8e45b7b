//! The subcommands: each turns parsed arguments into the engine's plain
//! options, runs it, and renders what it returns.

pub mod check;
pub mod create_indexes;
pub mod demo;
pub mod generate;
pub mod purge;
pub mod restore;
pub mod targets;

use purge_api::Registry;
use purge_engine::purge::CellSelection;
use purge_engine::{Cancel, Connections};

use crate::cli::exit::ExitStatus;
use crate::cli::{CellsArg, Cli, Command};
use crate::failure::Failure;

/// Runs a parsed command, writing its report to `out`.
pub async fn run(
    cli: &Cli,
    cancel: &Cancel,
    out: &mut dyn std::io::Write,
) -> Result<ExitStatus, Failure> {
    let connections = || Connections::resolve(&cli.databases.sources());
    match &cli.command {
        Command::Purge(args) => purge::run(&connections()?, args, &cli.logging, cancel, out).await,
        Command::Check(args) => check::run(&connections()?, args, out).await,
        Command::CreateIndexes(args) => {
            create_indexes::run(&connections()?, args, &cli.logging, cancel, out).await
        }
        Command::Restore(args) => restore::run(&connections()?, args, out).await,
        Command::Targets(args) => targets::run(args, out),
        Command::Demo(args) => demo::run(args, out).await,
        Command::Completions(args) => generate::completions(args, out),
        Command::Man(args) => generate::man(args, out),
    }
}

/// The targets linked into this binary, validated and ordered.
pub fn registry() -> Result<Registry, Failure> {
    Ok(Registry::load()?)
}

/// `--all-cells` and `--cell`, as the engine takes them.
fn cell_selection(cells: &CellsArg) -> CellSelection {
    if cells.all_cells {
        CellSelection::All
    } else if !cells.cell.is_empty() {
        CellSelection::Named(cells.cell.clone())
    } else {
        CellSelection::Local
    }
}
