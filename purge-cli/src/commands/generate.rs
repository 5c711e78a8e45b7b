//! `nova-purge completions` and `nova-purge man`: shell completions and man
//! pages generated from the clap definitions in [`crate::cli`], so that
//! they always match the command line.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::exit::ExitStatus;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::failure::Failure;

/// The name completions complete and man pages document.
const BIN_NAME: &str = "nova-purge";

/// Writes the completion script for `shell` to `out`.
pub fn write_completions(shell: Shell, out: &mut dyn Write) -> io::Result<()> {
    // clap_complete panics when its writer fails (a closed pipe): generate
    // into memory, then write with errors reported.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN_NAME, &mut script);
    out.write_all(&script)?;
    out.flush()
}

/// Writes the man page of `nova-purge` itself (roff, section 1) to `out`.
/// Subcommands are listed there; [`man_pages_to`] writes their own pages.
pub fn man_page(out: &mut dyn Write) -> io::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command()).render(&mut page)?;
    out.write_all(&page)?;
    out.flush()
}

/// Writes `nova-purge.1` and one page per subcommand into `dir`, which must
/// exist. Returns the files written, main page last.
pub fn man_pages_to(dir: &Path) -> io::Result<Vec<PathBuf>> {
    fn write_all(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> io::Result<()> {
        for sub in cmd.get_subcommands().filter(|sub| !sub.is_hide_set()) {
            write_all(sub.clone(), dir, written)?;
        }
        written.push(clap_mangen::Man::new(cmd).generate_to(dir)?);
        Ok(())
    }
    let mut cmd = command().disable_help_subcommand(true);
    // Building sets each subcommand's display name, `nova-purge-purge`,
    // which names its page.
    cmd.build();
    let mut written = Vec::new();
    write_all(cmd, dir, &mut written)?;
    Ok(written)
}

/// Runs `nova-purge completions`.
pub fn completions(args: &CompletionsArgs, out: &mut dyn Write) -> Result<ExitStatus, Failure> {
    write_completions(args.shell, out)?;
    Ok(ExitStatus::Done)
}

/// Runs `nova-purge man`: the main page on `out`, or with `--output-dir`
/// every page into that directory (created if missing) and their paths on
/// `out`, one a line.
pub fn man(args: &ManArgs, out: &mut dyn Write) -> Result<ExitStatus, Failure> {
    match &args.output_dir {
        None => man_page(out)?,
        Some(dir) => {
            let cannot = |err: io::Error| {
                Failure::Usage(format!(
                    "cannot write man pages into {}: {err}",
                    dir.display()
                ))
            };
            fs::create_dir_all(dir).map_err(cannot)?;
            for path in man_pages_to(dir).map_err(cannot)? {
                writeln!(out, "{}", path.display())?;
            }
            out.flush()?;
        }
    }
    Ok(ExitStatus::Done)
}

fn command() -> clap::Command {
    Cli::command().name(BIN_NAME).bin_name(BIN_NAME)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    fn completions_for(shell: Shell) -> String {
        let mut out = Vec::new();
        write_completions(shell, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn bash_completions_know_the_options() {
        let script = completions_for(Shell::Bash);
        assert!(script.contains("--older-than"), "{script}");
        assert!(script.contains("--database-url"));
        assert!(script.contains("nova-purge"));
        assert!(script.contains("purge"));
    }

    #[test]
    fn every_shell_gets_completions() {
        for shell in Shell::value_variants() {
            assert!(completions_for(*shell).contains("older-than"), "{shell}");
        }
    }

    #[test]
    fn the_man_page_documents_the_commands() {
        let mut out = Vec::new();
        man_page(&mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(page.starts_with(".ie"), "{page}");
        assert!(page.contains(".TH nova-purge 1"), "{page}");
        assert!(page.contains("purge"), "{page}");
        assert!(page.contains("check"), "{page}");
        assert!(page.contains("database\\-url"), "{page}");
    }

    #[test]
    fn man_pages_are_written_into_a_directory() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().join("man1");
        let args = ManArgs {
            output_dir: Some(dir.clone()),
        };
        let mut out = Vec::new();
        man(&args, &mut out).unwrap();
        let listed = String::from_utf8(out).unwrap();
        let purge = fs::read_to_string(dir.join("nova-purge-purge.1")).unwrap();
        assert!(purge.contains("older\\-than"), "{purge}");
        assert!(purge.contains("WARNING"), "{purge}");
        assert!(dir.join("nova-purge.1").is_file());
        assert!(
            listed.lines().last().unwrap().ends_with("nova-purge.1"),
            "{listed}"
        );
    }

    #[test]
    fn a_closed_pipe_is_an_error_not_a_panic() {
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let args = CompletionsArgs { shell: Shell::Zsh };
        match completions(&args, &mut Closed) {
            Err(Failure::Output(err)) => assert_eq!(err.kind(), io::ErrorKind::BrokenPipe),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            man(&ManArgs { output_dir: None }, &mut Closed),
            Err(Failure::Output(_))
        ));
    }

    #[test]
    fn the_args_parse_as_subcommand_arguments() {
        #[derive(Debug, clap::Parser)]
        struct Probe {
            #[command(subcommand)]
            command: ProbeCommand,
        }
        #[derive(Debug, clap::Subcommand)]
        enum ProbeCommand {
            Completions(CompletionsArgs),
            Man(ManArgs),
        }
        use clap::Parser;
        let probe = Probe::try_parse_from(["x", "completions", "fish"]).unwrap();
        assert!(matches!(
            probe.command,
            ProbeCommand::Completions(CompletionsArgs { shell: Shell::Fish })
        ));
        let probe = Probe::try_parse_from(["x", "man", "--output-dir", "/tmp/m"]).unwrap();
        assert!(matches!(
            probe.command,
            ProbeCommand::Man(ManArgs {
                output_dir: Some(_)
            })
        ));
        assert!(Probe::try_parse_from(["x", "completions", "tcsh"]).is_err());
    }
}
