//! Everything nova-purge prints passes through [`Scrubbed`], which blanks
//! out every secret the engine has seen (`purge_engine::secrets`): the
//! second line of defence behind redaction at the source, for a driver or
//! a server that echoes a password back.

use std::io::{self, Write};

use purge_engine::secrets;

/// A writer that scrubs secrets, a whole line at a time (a secret cannot be
/// split between two writes).
pub struct Scrubbed<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> Scrubbed<W> {
    pub fn new(inner: W) -> Self {
        Scrubbed {
            inner,
            pending: Vec::new(),
        }
    }

    fn write_scrubbed(&mut self, line: &[u8]) -> io::Result<()> {
        match std::str::from_utf8(line) {
            Ok(text) => self.inner.write_all(secrets::scrub(text).as_bytes()),
            Err(_) => self.inner.write_all(line),
        }
    }
}

impl<W: Write> Write for Scrubbed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.write_scrubbed(&line)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let rest = std::mem::take(&mut self.pending);
        if !rest.is_empty() {
            self.write_scrubbed(&rest)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Scrubbed<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_split_across_writes_is_still_blanked() {
        secrets::register("hunter2-secret");
        let mut out = Vec::new();
        {
            let mut scrubbed = Scrubbed::new(&mut out);
            write!(scrubbed, "password: hunter2").unwrap();
            writeln!(scrubbed, "-secret, ok").unwrap();
            write!(scrubbed, "tail hunter2-secret").unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "password: ***, ok\ntail ***"
        );
    }
}
