//! The Prometheus text format, as far as the metrics file needs it: metric
//! families with their HELP and TYPE, escaped label values, and reading
//! back a file this module wrote (to carry its counters over).

use std::collections::BTreeMap;

/// Every metric name starts with this.
pub(super) const PREFIX: &str = "nova_purge_";

/// A series' labels, sorted by name.
pub(super) type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Counter,
    Gauge,
}

/// One metric: its name (without the prefix), type, help and series.
pub(super) struct Family {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    pub(super) help: &'static str,
    pub(super) series: BTreeMap<Labels, f64>,
}

impl Family {
    pub(super) fn new(name: &'static str, kind: Kind, help: &'static str) -> Family {
        Family {
            name,
            kind,
            help,
            series: BTreeMap::new(),
        }
    }

    pub(super) fn add(&mut self, labels: &[(&str, &str)], value: f64) {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        *self.series.entry(labels).or_default() += value;
    }

    pub(super) fn set(&mut self, labels: &[(&str, &str)], value: f64) {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.series.insert(labels, value);
    }

    pub(super) fn full_name(&self) -> String {
        format!("{PREFIX}{}", self.name)
    }
}

/// What the previous file said that a new one carries over.
#[derive(Debug, Default)]
pub struct Previous {
    /// Every sample, by full metric name and labels.
    pub(super) samples: BTreeMap<(String, Labels), f64>,
}

impl Previous {
    /// Reads a file this module wrote. Comments are skipped; a line that is
    /// not a sample is an error, and nothing is carried over.
    pub fn parse(text: &str) -> Result<Previous, String> {
        let mut samples = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, labels, value) =
                parse_sample(line).ok_or_else(|| format!("line {}: not a sample", n + 1))?;
            samples.insert((name, labels), value);
        }
        Ok(Previous { samples })
    }

    pub(super) fn counters<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a Labels, f64)> + 'a {
        self.samples
            .iter()
            .filter(move |((n, _), _)| n == name)
            .map(|((_, labels), value)| (labels, *value))
    }

    pub(super) fn value(&self, name: &str) -> Option<f64> {
        self.samples.get(&(name.to_owned(), Labels::new())).copied()
    }
}

/// `name{label="value",...} value [timestamp]`.
fn parse_sample(line: &str) -> Option<(String, Labels, f64)> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let (name, mut rest) = line.split_at(name_end);
    if name.is_empty() {
        return None;
    }
    let mut labels = Labels::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            rest = rest.trim_start_matches(',');
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (label, after) = rest.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '"' => break i,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    other => value.push(other),
                }
            };
            labels.insert(label.to_owned(), value);
            rest = &after[end + 1..];
        }
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name.to_owned(), labels, value))
}

/// A label value as the text format wants it: `\`, `"` and newline
/// escaped.
pub(super) fn escape_label(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

/// HELP text: `\` and newline escaped.
pub(super) fn escape_help(text: &str) -> String {
    text.replace('\\', r"\\").replace('\n', r"\n")
}
