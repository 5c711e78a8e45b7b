//! The files: oslo.config's INI dialect (its own `iniparser.py`, not
//! Python's `configparser`), and reading the `--config-file` and
//! `--config-dir` sources in order.
//!
//! A file becomes its assignments in file order and nothing more: which
//! assignment wins is decided when an option is looked up (`lookup.rs`),
//! since oslo.config lets a later file override an earlier one option by
//! option, and values stay raw text until then, for `$` substitution.
//! Errors name the file and line, never the line's text, which may hold a
//! password.

use std::fs;
use std::path::{Path, PathBuf};

use super::ConfigSource;
use crate::error::Error;

/// A parsed file: its assignments in file order.
pub(super) struct ConfigFile {
    pub(super) path: PathBuf,
    pub(super) assignments: Vec<Assignment>,
}

pub(super) struct Assignment {
    /// Normalized: lower case, except `DEFAULT`.
    pub(super) section: String,
    pub(super) key: String,
    pub(super) value: String,
}

/// The files of `sources`, in the order given; a directory contributes its
/// `*.conf` files in name order. Errors (unreadable file or directory, a
/// line the parser refuses) name the file and line.
pub(super) fn read_sources(sources: &[ConfigSource]) -> Result<Vec<ConfigFile>, Error> {
    let mut files = Vec::new();
    for source in sources {
        match source {
            ConfigSource::File(path) => files.push(read_config_file(&expand_home(path))?),
            ConfigSource::Dir(dir) => {
                for path in conf_files_in(&expand_home(dir))? {
                    files.push(read_config_file(&path)?);
                }
            }
        }
    }
    Ok(files)
}

/// oslo.config compares section names in lower case, except `DEFAULT`.
pub(super) fn normalize_section(section: &str) -> String {
    if section == "DEFAULT" {
        section.to_owned()
    } else {
        section.to_lowercase()
    }
}

/// `~` and `~/...` from `$HOME`, as oslo.config's `_fixpath` does.
fn expand_home(path: &Path) -> PathBuf {
    let Ok(rest) = path.strip_prefix("~") else {
        return path.to_path_buf();
    };
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

fn read_config_file(path: &Path) -> Result<ConfigFile, Error> {
    let bytes = read_bounded(path)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::Input(format!(
            "cannot read {}: it is not UTF-8 text",
            path.display()
        ))
    })?;
    let assignments = parse_ini(&text).map_err(|err| {
        Error::Input(format!(
            "{}: line {}: {}",
            path.display(),
            err.line,
            err.message
        ))
    })?;
    Ok(ConfigFile {
        path: path.to_path_buf(),
        assignments,
    })
}

/// Largest configuration file read: nova.conf is a few hundred kilobytes at
/// most; `/dev/zero` or a runaway file must not fill memory.
const MAX_CONFIG_FILE: u64 = 4 << 20;

/// The bytes of a regular file of at most [`MAX_CONFIG_FILE`] bytes. A
/// FIFO, a device or a directory is refused before it is opened for
/// reading: reading one could hang or never end.
fn read_bounded(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let cannot =
        |err: std::io::Error| Error::Input(format!("cannot read {}: {err}", path.display()));
    let metadata = fs::metadata(path).map_err(cannot)?;
    if !metadata.is_file() {
        return Err(Error::Input(format!(
            "cannot read {}: it is not a regular file",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    fs::File::open(path)
        .map_err(cannot)?
        .take(MAX_CONFIG_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_CONFIG_FILE {
        return Err(Error::Input(format!(
            "cannot read {}: it is larger than {} MiB, which no nova.conf is",
            path.display(),
            MAX_CONFIG_FILE >> 20
        )));
    }
    Ok(bytes)
}

/// The `*.conf` files of a directory, in name order, without dot files.
fn conf_files_in(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let cannot = |err: std::io::Error| {
        Error::Input(format!(
            "cannot read the configuration directory {}: {err}",
            dir.display()
        ))
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(cannot)? {
        let entry = entry.map_err(cannot)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".conf") && !name.starts_with('.') {
            paths.push(entry.path());
        }
    }
    paths.sort();
    Ok(paths)
}

/// A line the INI parser refuses. The message never quotes the line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IniError {
    line: usize,
    message: &'static str,
}

/// Python's `str.isspace`, which oslo.config's `strip` calls use.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Lines as Python's universal newlines split them: `\n`, `\r\n` or `\r`.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n')
        .flat_map(|line| line.strip_suffix('\r').unwrap_or(line).split('\r'))
}

/// oslo.config's `BaseParser.parse` and `ConfigParser.assignment`.
fn parse_ini(text: &str) -> Result<Vec<Assignment>, IniError> {
    struct Pending {
        key: String,
        parts: Vec<String>,
        line: usize,
    }
    fn flush(
        pending: &mut Option<Pending>,
        section: &Option<String>,
        out: &mut Vec<Assignment>,
    ) -> Result<(), IniError> {
        let Some(done) = pending.take() else {
            return Ok(());
        };
        let Some(section) = section else {
            return Err(IniError {
                line: done.line,
                message: "an option before the first [section]",
            });
        };
        out.push(Assignment {
            section: normalize_section(section),
            key: done.key,
            value: done.parts.join("\n"),
        });
        Ok(())
    }

    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut section: Option<String> = None;
    let mut pending: Option<Pending> = None;
    for (index, line) in lines(text).enumerate() {
        let number = index + 1;
        let error = |message| IniError {
            line: number,
            message,
        };
        let line = line.trim_end_matches(is_space);
        if line.is_empty() {
            // A blank line ends a multi-line value.
            flush(&mut pending, &section, &mut out)?;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match pending.as_mut() {
                Some(pending) => pending
                    .parts
                    .push(line.trim_start_matches(is_space).to_owned()),
                None => return Err(error(
                    "a continuation line (it starts with a space or tab) that follows no option",
                )),
            }
            continue;
        }
        flush(&mut pending, &section, &mut out)?;
        if line.starts_with('[') {
            if !line.ends_with(']') {
                return Err(error("a section line must end with `]`"));
            }
            if line.chars().count() <= 2 {
                return Err(error("an empty section name"));
            }
            section = Some(line[1..line.len() - 1].to_owned());
        } else if line.starts_with(['#', ';']) {
            // A comment.
        } else {
            let (key, value) =
                split_key_value(line).ok_or_else(|| error("neither `=` nor `:` in this line"))?;
            if key.is_empty() {
                return Err(error("an option with no name before its `=` or `:`"));
            }
            pending = Some(Pending {
                key: key.to_owned(),
                parts: vec![value.to_owned()],
                line: number,
            });
        }
    }
    flush(&mut pending, &section, &mut out)?;
    Ok(out)
}

/// oslo.config's `_split_key_value`: at the first `=` or `:`, whichever
/// comes first; surrounding spaces and one pair of matching quotes removed.
fn split_key_value(line: &str) -> Option<(&str, &str)> {
    let at = match (line.find(':'), line.find('=')) {
        (None, None) => return None,
        (Some(colon), Some(equal)) => colon.min(equal),
        (Some(at), None) | (None, Some(at)) => at,
    };
    let key = line[..at].trim_matches(is_space);
    let mut value = line[at + 1..].trim_matches(is_space);
    if let Some(quote @ ('"' | '\'')) = value.chars().next() {
        if value.ends_with(quote) {
            value = if value.len() == 1 {
                ""
            } else {
                &value[1..value.len() - 1]
            };
        }
    }
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{usage, value, TempDir};
    use crate::config::{load_with_env, ConfigSource};

    fn parse(text: &str) -> Vec<(String, String, String)> {
        parse_ini(text)
            .unwrap()
            .into_iter()
            .map(|a| (a.section, a.key, a.value))
            .collect()
    }

    fn triple(section: &str, key: &str, value: &str) -> (String, String, String) {
        (section.to_owned(), key.to_owned(), value.to_owned())
    }

    #[test]
    fn sections_keys_and_both_separators() {
        let text = "[DEFAULT]\nstate_path = /var/lib/nova\n\n[database]\nconnection: sqlite:////x\nmax_pool_size=5\n";
        assert_eq!(
            parse(text),
            vec![
                triple("DEFAULT", "state_path", "/var/lib/nova"),
                triple("database", "connection", "sqlite:////x"),
                triple("database", "max_pool_size", "5"),
            ]
        );
    }

    #[test]
    fn the_first_of_equals_and_colon_splits() {
        assert_eq!(
            parse("[d]\nconnection = mysql://u:p@h/db\na:b = c\n"),
            vec![
                triple("d", "connection", "mysql://u:p@h/db"),
                triple("d", "a", "b = c"),
            ]
        );
    }

    #[test]
    fn matching_quotes_are_removed_once() {
        assert_eq!(
            parse("[d]\na = \"x y\"\nb = 'z'\nc = \"unbalanced'\nd = \"\ne = \"\"x\"\"\n"),
            vec![
                triple("d", "a", "x y"),
                triple("d", "b", "z"),
                triple("d", "c", "\"unbalanced'"),
                triple("d", "d", ""),
                triple("d", "e", "\"x\""),
            ]
        );
    }

    #[test]
    fn comments_are_whole_lines_only() {
        assert_eq!(
            parse("# top\n; also\n[d]\n# k = v\na = 1 # not a comment\n"),
            vec![triple("d", "a", "1 # not a comment")]
        );
    }

    #[test]
    fn continuation_lines_join_with_newlines_until_a_blank_line() {
        assert_eq!(
            parse("[d]\na = one\n  two\n\tthree\n\n  \nb = x\n# c\n"),
            vec![triple("d", "a", "one\ntwo\nthree"), triple("d", "b", "x")]
        );
        // A comment line ends the value too; a continuation after it is an error.
        assert_eq!(
            parse_ini("[d]\na = one\n# c\n  two\n").err().unwrap().line,
            4
        );
    }

    #[test]
    fn section_names_are_lower_cased_except_default() {
        assert_eq!(
            parse("[Database]\na = 1\n[API_DATABASE]\nb = 2\n[default]\nc = 3\n[DEFAULT]\nd = 4\n"),
            vec![
                triple("database", "a", "1"),
                triple("api_database", "b", "2"),
                triple("default", "c", "3"),
                triple("DEFAULT", "d", "4"),
            ]
        );
    }

    #[test]
    fn line_endings_and_a_byte_order_mark() {
        let expected = vec![triple("d", "a", "1"), triple("d", "b", "2")];
        assert_eq!(parse("\u{feff}[d]\r\na = 1\r\nb = 2\r\n"), expected);
        assert_eq!(parse("[d]\ra = 1\rb = 2"), expected);
        assert_eq!(parse("[d]\na = 1   \t\nb = 2"), expected);
    }

    #[test]
    fn ini_errors_name_the_line_but_never_quote_it() {
        for (text, line, words) in [
            (
                "connection = mysql://u:SECRETpw@h/db\n",
                1,
                "before the first [section]",
            ),
            ("[d]\n\n  SECRETpw\n", 3, "continuation"),
            ("[d\nSECRETpw = 1\n", 1, "must end with"),
            ("[]\n", 1, "empty section"),
            ("[d]\nSECRETpw\n", 2, "neither"),
            ("[d]\n= SECRETpw\n", 2, "no name"),
            ("[d]\n = SECRETpw\n", 2, "continuation"),
        ] {
            let err = parse_ini(text).err().unwrap();
            assert_eq!(err.line, line, "{text:?}");
            assert!(err.message.contains(words), "{text:?}: {}", err.message);
            assert!(!err.message.contains("SECRET"));
        }
    }

    #[test]
    fn a_config_dir_reads_its_conf_files_in_name_order() {
        let dir = TempDir::new();
        dir.write("20-b.conf", "[database]\nconnection = b\n");
        dir.write(
            "10-a.conf",
            "[database]\nconnection = a\n[DEFAULT]\nx = 1\n",
        );
        dir.write("30-c.conf.disabled", "[database]\nconnection = c\n");
        dir.write(".99-hidden.conf", "[database]\nconnection = hidden\n");
        let main = dir.write("main", "[database]\nconnection = main\n[DEFAULT]\nx = 2\n");
        let config = load_with_env(
            &[
                ConfigSource::Dir(dir.path()),
                ConfigSource::File(main.clone()),
            ],
            [],
        )
        .unwrap();
        let names: Vec<String> = config
            .files()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["10-a.conf", "20-b.conf", "main"]);
        assert_eq!(
            value(&config, "database", "connection").as_deref(),
            Some("main")
        );
        assert_eq!(value(&config, "DEFAULT", "x").as_deref(), Some("2"));
        // The other order: the directory wins.
        let config = load_with_env(
            &[ConfigSource::File(main), ConfigSource::Dir(dir.path())],
            [],
        )
        .unwrap();
        assert_eq!(
            value(&config, "database", "connection").as_deref(),
            Some("b")
        );
        assert_eq!(value(&config, "DEFAULT", "x").as_deref(), Some("1"));
    }

    #[test]
    fn missing_files_and_directories_are_errors() {
        let message = usage(load_with_env(
            &[ConfigSource::File("/nonexistent/nova.conf".into())],
            [],
        ));
        assert!(
            message.starts_with("cannot read /nonexistent/nova.conf: No such file"),
            "{message}"
        );
        let message = usage(load_with_env(
            &[ConfigSource::Dir("/nonexistent/nova.conf.d".into())],
            [],
        ));
        assert!(
            message
                .starts_with("cannot read the configuration directory /nonexistent/nova.conf.d:"),
            "{message}"
        );
    }

    #[test]
    fn a_parse_error_names_file_and_line() {
        let dir = TempDir::new();
        let path = dir.write("bad.conf", "[database]\nconnection mysql//u@SECRETpw\n");
        let message = usage(load_with_env(&[ConfigSource::File(path.clone())], []));
        assert_eq!(
            message,
            format!(
                "{}: line 2: neither `=` nor `:` in this line",
                path.display()
            )
        );
        let path = dir.path().join("binary.conf");
        fs::write(&path, [b'[', b'd', b']', b'\n', 0xff, 0xfe]).unwrap();
        let message = usage(load_with_env(&[ConfigSource::File(path)], []));
        assert!(message.ends_with("it is not UTF-8 text"), "{message}");
    }

    #[test]
    fn only_regular_files_of_a_sane_size_are_read() {
        let dir = TempDir::new();
        let fifo = dir.path().join("fifo.conf");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        for path in [
            fifo.clone(),
            std::path::PathBuf::from("/dev/zero"),
            dir.path(),
        ] {
            let message = usage(load_with_env(&[ConfigSource::File(path.clone())], []));
            assert!(
                message.contains("not a regular file"),
                "{}: {message}",
                path.display()
            );
        }
        // A FIFO in a --config-dir is refused too, without hanging.
        let message = usage(load_with_env(&[ConfigSource::Dir(dir.path())], []));
        assert!(message.contains("not a regular file"), "{message}");
        let big = dir.write("big.txt", &"# padding\n".repeat(500_000));
        let message = usage(load_with_env(&[ConfigSource::File(big)], []));
        assert!(message.contains("larger than"), "{message}");
    }
}
