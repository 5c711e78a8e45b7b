//! Reports as text for people and JSON for scripts, on stdout.

pub mod check;
pub mod create_indexes;
pub mod purge;
pub mod restore;

use std::io::{self, Write};

use serde::Serialize;

/// Writes `value` as one line of JSON.
pub fn json_line(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

/// Writes `value` as indented JSON.
pub fn json_pretty(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// Writes rows as left-aligned columns separated by two spaces.
pub fn columns<const N: usize>(
    out: &mut dyn Write,
    header: &[String; N],
    rows: &[[String; N]],
) -> io::Result<()> {
    let widths: [usize; N] = std::array::from_fn(|i| {
        rows.iter()
            .chain(std::iter::once(header))
            .map(|row| row[i].len())
            .max()
            .unwrap_or(0)
    });
    for row in std::iter::once(header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}
