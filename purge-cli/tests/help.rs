//! Snapshots of every `--help`, and docs/cli-reference.md, which is made of
//! them: a change to the command line shows up as a diff to review, and the
//! reference cannot drift from the binary.
//!
//! After an intended change, rewrite the snapshots and the reference with
//! `UPDATE_SNAPSHOTS=1 cargo test -p purge-cli --test help` and review the
//! diff.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use purge_cli::Cli;

/// Width the help is wrapped at, whatever the terminal.
const WIDTH: usize = 100;

/// `nova-purge --help` and each subcommand's `--help`, by command path.
fn helps() -> Vec<(String, String)> {
    let mut root = Cli::command().term_width(WIDTH);
    root.build();
    let mut helps = vec![("nova-purge".to_owned(), root.render_long_help().to_string())];
    for sub in root.get_subcommands_mut() {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("nova-purge {}", sub.get_name());
        helps.push((name, sub.render_long_help().to_string()));
    }
    helps
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares `actual` with the file at `path`, or writes it when asked to.
fn assert_snapshot(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} is out of date (first difference at line {}):\n--- expected\n{}\n+++ actual\n{}\n\
             Review the change, then run UPDATE_SNAPSHOTS=1 cargo test -p purge-cli --test help",
            path.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or("<end>"),
            actual.lines().nth(line).unwrap_or("<end>"),
        );
    }
}

#[test]
fn every_help_text_matches_its_snapshot() {
    for (name, help) in helps() {
        let file = format!("{}.txt", name.replace(' ', "-"));
        assert_snapshot(&manifest_dir().join("tests/snapshots").join(file), &help);
    }
}

#[test]
fn the_cli_reference_is_the_help_texts() {
    let mut reference = String::from(
        "# nova-purge command-line reference\n\n\
         Generated from the command-line definition by `purge-cli/tests/help.rs`\n\
         (`UPDATE_SNAPSHOTS=1 cargo test -p purge-cli --test help` rewrites it);\n\
         do not edit by hand. [cli.md](cli.md) explains the commands with\n\
         examples.\n",
    );
    for (name, help) in helps() {
        reference.push_str(&format!(
            "\n## `{name}`\n\n```text\n{}\n```\n",
            help.trim_end()
        ));
    }
    assert_snapshot(&manifest_dir().join("../docs/cli-reference.md"), &reference);
}

#[test]
fn help_lists_every_exit_code_of_its_command() {
    use purge_cli::cli::exit::{ExitStatus, Outcomes};
    let helps = helps();
    for (name, outcomes) in [
        ("nova-purge", Outcomes::Any),
        ("nova-purge purge", Outcomes::Purge),
        ("nova-purge check", Outcomes::Check),
        ("nova-purge restore", Outcomes::Restore),
        ("nova-purge create-indexes", Outcomes::CreateIndexes),
    ] {
        let help = &helps.iter().find(|(n, _)| n == name).unwrap().1;
        for status in ExitStatus::of(outcomes) {
            let line = format!("  {:<3}  ", status.code());
            assert!(
                help.contains(&line),
                "{name} --help lacks exit code {}",
                status.code()
            );
        }
    }
}
