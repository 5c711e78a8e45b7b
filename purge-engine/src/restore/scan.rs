//! The first pass over an export: every line read and checked, nothing
//! written. It finds the sources (where each part was deleted), the parts
//! (a batch's rows in one database) with their tables and where their lines
//! are, and the lines that cannot be read, so that `restore` can refuse
//! before writing anything, and can tell which parts damage has reached.
//! Memory grows with the number of parts, never with the number of rows.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::export::record::{Place, Record};

/// Longest line read (a row with the largest Nova text columns is far
/// shorter); a longer one is reported as unreadable, never buffered whole.
pub const MAX_LINE: usize = 64 << 20;

/// A batch's rows in one database.
pub type PartKey = (u64, u32);

/// What the first pass learnt about one part.
#[derive(Debug, Default, Clone)]
pub struct PartInfo {
    /// Line of its first row, and of its last.
    pub first_line: usize,
    pub last_line: usize,
    /// Byte offset of its first row's line, and just past its last row's.
    pub rows_start: u64,
    pub rows_end: u64,
    pub rows: u64,
    /// Line of its `committed` record, if there is one.
    pub committed: Option<usize>,
    pub tables: BTreeSet<String>,
    /// Why it cannot be restored whole, when it cannot.
    pub damaged: Option<String>,
}

/// Everything the first pass found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Source number → where its parts were deleted.
    pub sources: BTreeMap<u32, Place>,
    pub parts: BTreeMap<PartKey, PartInfo>,
    /// (line, why) of every line that could not be read.
    pub unreadable: Vec<(usize, String)>,
    /// Lines cut short in the middle of a part's `committed` record: the
    /// part committed (its rows were synced before), only the record of
    /// it is lost.
    cut_commits: BTreeMap<usize, PartKey>,
}

/// One line of the file, as the reader returns it.
pub enum Line {
    Text(String),
    /// Longer than [`MAX_LINE`]: skipped.
    TooLong,
    /// Not UTF-8.
    NotText,
}

/// The lines of an export, read one at a time with bounded memory.
pub struct Lines {
    reader: BufReader<File>,
    path: PathBuf,
    number: usize,
    /// Bytes read so far: where the next line starts.
    offset: u64,
}

impl Lines {
    pub fn open(path: &Path) -> Result<Lines, Error> {
        Ok(Lines {
            reader: BufReader::new(open(path)?),
            path: path.to_owned(),
            number: 0,
            offset: 0,
        })
    }

    /// The lines from byte `offset` on, numbered from `number` (the number
    /// of the line that starts there).
    pub fn open_at(path: &Path, offset: u64, number: usize) -> Result<Lines, Error> {
        use std::io::{Seek, SeekFrom};
        let mut lines = Lines::open(path)?;
        lines
            .reader
            .seek(SeekFrom::Start(offset))
            .map_err(|e| Error::Input(format!("cannot read {}: {e}", path.display())))?;
        lines.offset = offset;
        lines.number = number.saturating_sub(1);
        Ok(lines)
    }

    /// Where the next line starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Iterator for Lines {
    /// The line's number (from 1) and the line.
    type Item = Result<(usize, Line), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buffer = Vec::new();
        let (read, too_long) = match read_bounded_line(&mut self.reader, &mut buffer) {
            Ok(read) => read,
            Err(e) => {
                return Some(Err(Error::Input(format!(
                    "cannot read {}: {e}",
                    self.path.display()
                ))))
            }
        };
        if read == 0 {
            return None;
        }
        self.number += 1;
        self.offset += read as u64;
        if buffer.last() == Some(&b'\n') {
            buffer.pop();
        }
        let line = if too_long {
            Line::TooLong
        } else {
            match String::from_utf8(buffer) {
                Ok(text) => Line::Text(text),
                Err(_) => Line::NotText,
            }
        };
        Some(Ok((self.number, line)))
    }
}

/// Opens an export for reading: a regular file only (a FIFO or a device
/// would hang or never end).
fn open(path: &Path) -> Result<File, Error> {
    let cannot = |e: io::Error| Error::Input(format!("cannot read {}: {e}", path.display()));
    let metadata = std::fs::metadata(path).map_err(cannot)?;
    if !metadata.is_file() {
        return Err(Error::Input(format!(
            "{} is not a regular file; give the file `nova-purge purge --export` wrote",
            path.display()
        )));
    }
    File::open(path).map_err(cannot)
}

/// Reads one line into `buffer`, keeping at most [`MAX_LINE`] bytes of it.
/// Returns the bytes consumed and whether the line was longer.
fn read_bounded_line(reader: &mut impl BufRead, buffer: &mut Vec<u8>) -> io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut too_long = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok((consumed, too_long));
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(end) => (&available[..=end], true),
            None => (available, false),
        };
        if !too_long && buffer.len() + chunk.len() <= MAX_LINE {
            buffer.extend_from_slice(chunk);
        } else {
            too_long = true;
            buffer.clear();
        }
        let length = chunk.len();
        reader.consume(length);
        consumed += length;
        if done {
            return Ok((consumed, too_long));
        }
    }
}

/// Parses one line of an export.
pub fn parse(line: &Line) -> Result<Record, String> {
    match line {
        Line::TooLong => Err(format!("longer than {} MiB", MAX_LINE >> 20)),
        Line::NotText => Err("not UTF-8 text".to_owned()),
        Line::Text(text) => serde_json::from_str(text).map_err(|_| {
            if serde_json::from_str::<serde_json::Value>(text).is_ok() {
                "not a line of an export".to_owned()
            } else {
                "not JSON (a line cut short?)".to_owned()
            }
        }),
    }
}

/// Format 1 lines name their database and cell themselves; they get
/// source numbers past every format 2 one.
const FIRST_V1_SOURCE: u32 = 1 << 30;

impl Scan {
    /// The first pass over `path`.
    pub fn read(path: &Path) -> Result<Scan, Error> {
        let mut scan = Scan::default();
        let mut v1_sources: BTreeMap<Place, u32> = BTreeMap::new();
        let malformed = |what: &str| {
            Error::Input(format!(
                "{}: {what}; is this a file written by `nova-purge purge --export`?",
                path.display()
            ))
        };
        let mut header = false;
        let mut lines = Lines::open(path)?;
        loop {
            let start = lines.offset();
            let Some(line) = lines.next() else { break };
            let (number, line) = line?;
            let end = lines.offset();
            let record = parse(&line);
            if number == 1 {
                match record {
                    Ok(Record::Header(h)) if (1..=2).contains(&h.nova_purge_export) => {
                        header = true;
                        continue;
                    }
                    Ok(Record::Header(h)) => {
                        return Err(malformed(&format!(
                        "line 1: export format {} is newer than this nova-purge reads (1 and 2)",
                        h.nova_purge_export
                    )))
                    }
                    _ => return Err(malformed("line 1: no export header")),
                }
            }
            match record {
                Err(why) => {
                    if let Some(key) = cut_commit(&line) {
                        scan.cut_commits.insert(number, key);
                    }
                    scan.unreadable.push((number, why));
                }
                Ok(Record::Header(_)) => {
                    scan.unreadable.push((number, "a second header".to_owned()))
                }
                Ok(Record::Source(source)) => {
                    let place = source.place();
                    if let Some(known) = scan.sources.get(&source.source) {
                        if *known != place {
                            return Err(malformed(&format!(
                                "line {number}: source {} is described twice, differently",
                                source.source
                            )));
                        }
                    }
                    scan.sources.insert(source.source, place);
                }
                Ok(Record::Row(row)) => {
                    if !scan.sources.contains_key(&row.source) {
                        scan.unreadable.push((
                            number,
                            format!("names source {}, not described before it", row.source),
                        ));
                    } else {
                        scan.row(number, (start, end), (row.batch, row.source), row.table);
                    }
                }
                Ok(Record::Committed(commit)) => {
                    scan.commit(number, (commit.batch, commit.source));
                }
                Ok(Record::RowV1(row)) => {
                    let source = scan.v1_source(&mut v1_sources, row.database, row.cell);
                    scan.row(number, (start, end), (row.batch, source), row.table);
                }
                Ok(Record::CommittedV1(commit)) => {
                    let source = scan.v1_source(&mut v1_sources, commit.database, commit.cell);
                    scan.commit(number, (commit.batch, source));
                }
            }
        }
        if !header {
            return Err(malformed("the file is empty: no export header"));
        }
        scan.mark_damage();
        Ok(scan)
    }

    fn v1_source(
        &mut self,
        known: &mut BTreeMap<Place, u32>,
        database: crate::export::record::Database,
        cell: Option<String>,
    ) -> u32 {
        let place = Place {
            database,
            cell,
            cell_uuid: None,
            backend: None,
            name: None,
        };
        let next = FIRST_V1_SOURCE + known.len() as u32;
        let number = *known.entry(place.clone()).or_insert(next);
        self.sources.insert(number, place);
        number
    }

    fn row(&mut self, number: usize, (start, end): (u64, u64), key: PartKey, table: String) {
        let part = self.parts.entry(key).or_insert_with(|| PartInfo {
            first_line: number,
            rows_start: start,
            ..PartInfo::default()
        });
        part.rows_end = end;
        if part.committed.is_some() {
            part.damaged = Some(format!("line {number} adds a row after its committed line"));
        }
        part.last_line = number;
        part.rows += 1;
        part.tables.insert(table);
    }

    fn commit(&mut self, number: usize, key: PartKey) {
        let part = self.parts.entry(key).or_insert_with(|| PartInfo {
            first_line: number,
            last_line: number,
            ..PartInfo::default()
        });
        part.committed = Some(number);
    }

    /// A part whose lines have an unreadable line among them may have lost a
    /// row: it is not restored. So is an uncommitted part followed at once
    /// by an unreadable line, unless that line is its own `committed` record
    /// cut short (then the part did commit: its rows were synced first).
    fn mark_damage(&mut self) {
        let unreadable: BTreeMap<usize, &String> = self
            .unreadable
            .iter()
            .map(|(line, why)| (*line, why))
            .collect();
        for (key, part) in self.parts.iter_mut() {
            if part.damaged.is_some() {
                continue;
            }
            let end = part.committed.unwrap_or(part.last_line);
            if let Some((line, why)) = unreadable
                .range(part.first_line + 1..end.max(part.first_line + 1))
                .next()
            {
                part.damaged = Some(format!(
                    "line {line} among its lines cannot be read ({why})"
                ));
                continue;
            }
            if part.committed.is_some() {
                continue;
            }
            let next = part.last_line + 1;
            if let Some(why) = unreadable.get(&next) {
                if self.cut_commits.get(&next) == Some(key) {
                    part.committed = Some(next);
                } else {
                    part.damaged = Some(format!(
                        "it has no committed record, and line {next} after its rows cannot be read ({why})"
                    ));
                }
            }
        }
    }
}

/// The part a line belongs to, when it is a format 2 `committed` record
/// cut short: `{"batch":B,"source":S,"committed":[...` without its end.
fn cut_commit(line: &Line) -> Option<PartKey> {
    let Line::Text(text) = line else { return None };
    if serde_json::from_str::<serde_json::Value>(text).is_ok() {
        return None;
    }
    let rest = text.strip_prefix("{\"batch\":")?;
    let (batch, rest) = rest.split_once(",\"source\":")?;
    let (source, rest) = rest.split_once(',')?;
    if !rest.starts_with("\"committed\":[") {
        return None;
    }
    Some((batch.parse().ok()?, source.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn scan_of(text: &str) -> Result<Scan, Error> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        Scan::read(file.path())
    }

    const HEADER: &str = r#"{"nova_purge_export":2,"created":"2026-11-29T16:00:00Z"}"#;
    const SOURCE: &str = r#"{"source":1,"database":"cell","cell":null,"cell_uuid":null,"backend":"sqlite","name":"x"}"#;

    #[test]
    fn an_empty_file_is_no_export() {
        assert!(matches!(scan_of(""), Err(Error::Input(m)) if m.contains("empty")));
    }

    #[test]
    fn a_line_cut_short_damages_only_the_part_it_is_in() {
        let text = format!(
            "{HEADER}\n{SOURCE}\n\
             {{\"batch\":1,\"source\":1,\"table\":\"instances\",\"row\":{{\"id\":1}}}}\n\
             {{\"batch\":1,\"source\":1,\"committed\":[\"u1\"]}}\n\
             {{\"batch\":2,\"source\":1,\"table\":\"tags\",\"row\":{{\"a\":1}}}}\n\
             {{\"batch\":2,\"source\":1,\"tab\n\
             {{\"batch\":2,\"source\":1,\"table\":\"instances\",\"row\":{{\"id\":2}}}}\n\
             {{\"batch\":2,\"source\":1,\"committed\":[\"u2\"]}}\n\
             {{\"batch\":3,\"source\":1,\"table\":\"instances\",\"row\":{{\"id\":3}}}}\n\
             {{\"batch\":3,\"source\":1,\"committed\":[\"u"
        );
        let scan = scan_of(&text).unwrap();
        assert_eq!(
            scan.unreadable.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            [6, 10]
        );
        assert!(scan.parts[&(1, 1)].damaged.is_none());
        assert!(scan.parts[&(2, 1)].damaged.is_some());
        // Cut short in its committed record: it did commit.
        assert!(scan.parts[&(3, 1)].damaged.is_none());
        assert_eq!(scan.parts[&(3, 1)].committed, Some(10));
    }

    /// Cells purged at once (`--jobs`) interleave their batches: a batch's
    /// rows stay together, its `committed` line may come after another
    /// cell's rows.
    #[test]
    fn interleaved_batches_of_cells_purged_at_once_are_each_whole() {
        const SOURCE2: &str = r#"{"source":2,"database":"cell","cell":"b","cell_uuid":null,"backend":"sqlite","name":"y"}"#;
        let text = format!(
            "{HEADER}\n{SOURCE}\n\
             {{\"batch\":1,\"source\":1,\"table\":\"tags\",\"row\":{{\"a\":1}}}}\n\
             {{\"batch\":1,\"source\":1,\"table\":\"instances\",\"row\":{{\"id\":1}}}}\n\
             {SOURCE2}\n\
             {{\"batch\":2,\"source\":2,\"table\":\"instances\",\"row\":{{\"id\":7}}}}\n\
             {{\"batch\":1,\"source\":1,\"committed\":[\"u1\"]}}\n\
             {{\"batch\":3,\"source\":1,\"table\":\"instances\",\"row\":{{\"id\":2}}}}\n\
             {{\"batch\":2,\"source\":2,\"committed\":[\"u7\"]}}\n\
             {{\"batch\":3,\"source\":1,\"committed\":[\"u2\"]}}\n"
        );
        let scan = scan_of(&text).unwrap();
        assert!(scan.unreadable.is_empty());
        let summary: Vec<(PartKey, u64, Option<usize>)> = scan
            .parts
            .iter()
            .map(|(key, part)| {
                assert!(part.damaged.is_none(), "{key:?}: {part:?}");
                (*key, part.rows, part.committed)
            })
            .collect();
        assert_eq!(
            summary,
            [
                ((1, 1), 2, Some(7)),
                ((2, 2), 1, Some(9)),
                ((3, 1), 1, Some(10))
            ]
        );
    }

    #[test]
    fn a_part_cut_short_in_its_rows_is_not_restored() {
        let text = format!(
            "{HEADER}\n{SOURCE}\n\
             {{\"batch\":1,\"source\":1,\"table\":\"tags\",\"row\":{{\"a\":1}}}}\n\
             {{\"batch\":1,\"source\":1,\"table\":\"inst"
        );
        let scan = scan_of(&text).unwrap();
        assert!(scan.parts[&(1, 1)].damaged.is_some());
    }

    #[test]
    fn a_commit_that_is_not_a_list_is_unreadable_not_a_commit() {
        let text = format!(
            "{HEADER}\n{SOURCE}\n\
             {{\"batch\":1,\"source\":1,\"table\":\"instances\",\"row\":{{\"id\":1}}}}\n\
             {{\"batch\":1,\"source\":1,\"committed\":false}}\n"
        );
        let scan = scan_of(&text).unwrap();
        assert!(scan.parts[&(1, 1)].committed.is_none());
        assert!(scan.parts[&(1, 1)].damaged.is_some());
        assert_eq!(scan.unreadable.len(), 1);
    }

    #[test]
    fn over_long_lines_are_skipped_not_buffered() {
        let mut reader = io::Cursor::new(vec![b'x'; MAX_LINE + 10]);
        let mut buffer = Vec::new();
        let (read, too_long) = read_bounded_line(&mut reader, &mut buffer).unwrap();
        assert_eq!(read, MAX_LINE + 10);
        assert!(too_long);
        assert!(buffer.len() <= MAX_LINE);
    }
}
