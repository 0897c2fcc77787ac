//! A bounded line reader shared by the server and the client.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// One framed line, or the news that the peer sent a longer one.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line without its newline (or the unterminated rest before EOF).
    Complete(Vec<u8>),
    /// The line passed the limit; what was read of it is dropped.
    TooLong { read: usize },
}

/// Reads `\n`-terminated lines, never holding more than `limit` bytes of one
/// line. Cancel-safe: bytes already read stay in `pending` when a caller's
/// `select!` or timeout drops the future.
pub(crate) struct LineReader<R> {
    inner: R,
    pending: Vec<u8>,
    /// How much of `pending` is known to hold no newline.
    scanned: usize,
    limit: usize,
    eof: bool,
}

const CHUNK: usize = 8 * 1024;

impl<R: AsyncRead + Unpin> LineReader<R> {
    pub(crate) fn new(inner: R, limit: usize) -> Self {
        LineReader {
            inner,
            pending: Vec::new(),
            scanned: 0,
            limit,
            eof: false,
        }
    }

    /// The next line; `None` at a clean end of input.
    pub(crate) async fn next_line(&mut self) -> io::Result<Option<Line>> {
        loop {
            if let Some(offset) = self.pending[self.scanned..]
                .iter()
                .position(|byte| *byte == b'\n')
            {
                let end = self.scanned + offset;
                self.scanned = 0;
                if end + 1 > self.limit {
                    self.pending.drain(..=end);
                    return Ok(Some(Line::TooLong { read: end + 1 }));
                }
                let mut line: Vec<u8> = self.pending.drain(..=end).collect();
                line.pop();
                return Ok(Some(Line::Complete(line)));
            }
            self.scanned = self.pending.len();
            if self.pending.len() >= self.limit {
                // Even the newline would not fit; the framing is lost.
                let read = self.pending.len();
                self.pending.clear();
                self.scanned = 0;
                return Ok(Some(Line::TooLong { read }));
            }
            if self.eof {
                if self.pending.is_empty() {
                    return Ok(None);
                }
                self.scanned = 0;
                return Ok(Some(Line::Complete(std::mem::take(&mut self.pending))));
            }
            let mut chunk = [0u8; CHUNK];
            let want = CHUNK.min(self.limit + 1 - self.pending.len());
            let read = self.inner.read(&mut chunk[..want]).await?;
            if read == 0 {
                self.eof = true;
            } else {
                self.pending.extend_from_slice(&chunk[..read]);
            }
        }
    }

    /// Whether part of a line has arrived (a request is under way).
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Waits until at least one byte of a line is here, or the end of
    /// input. Cancel-safe like [`LineReader::next_line`].
    pub(crate) async fn wait_for_data(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() || self.eof {
            return Ok(());
        }
        let mut chunk = [0u8; CHUNK];
        let want = CHUNK.min(self.limit + 1);
        let read = self.inner.read(&mut chunk[..want]).await?;
        if read == 0 {
            self.eof = true;
        } else {
            self.pending.extend_from_slice(&chunk[..read]);
        }
        Ok(())
    }

    /// Reads and drops everything until the peer closes its end (or errs).
    pub(crate) async fn discard_until_closed(&mut self) {
        self.pending.clear();
        self.scanned = 0;
        let mut chunk = [0u8; 1024];
        while !self.eof {
            match self.inner.read(&mut chunk).await {
                Ok(0) | Err(_) => self.eof = true,
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8], limit: usize) -> Vec<Line> {
        let mut reader = LineReader::new(input, limit);
        let mut lines = Vec::new();
        while let Some(line) = reader
            .next_line()
            .await
            .expect("reading a slice cannot fail")
        {
            lines.push(line);
        }
        lines
    }

    fn complete(text: &str) -> Line {
        Line::Complete(text.as_bytes().to_vec())
    }

    #[tokio::test]
    async fn lines_are_framed_and_bounded() {
        let rows: Vec<(&[u8], usize, Vec<Line>)> = vec![
            (b"", 16, vec![]),
            (b"a\nb\n", 16, vec![complete("a"), complete("b")]),
            (
                b"a\n\nb",
                16,
                vec![complete("a"), complete(""), complete("b")],
            ),
            // A line of exactly the limit, newline included, is allowed.
            (b"abc\n", 4, vec![complete("abc")]),
            // One byte over: refused, and the next line is still framed
            // because the newline arrived within what was read.
            (
                b"abcd\nz\n",
                4,
                vec![Line::TooLong { read: 5 }, complete("z")],
            ),
        ];
        for (input, limit, expected) in rows {
            let got = lines_of(input, limit).await;
            assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[tokio::test]
    async fn an_endless_line_is_refused_without_reading_it_all() {
        let input = "x".repeat(100_000);
        let mut reader = LineReader::new(input.as_bytes(), 64);
        let first = reader
            .next_line()
            .await
            .expect("reading a slice cannot fail");
        assert!(
            matches!(first, Some(Line::TooLong { read }) if read <= 65),
            "{first:?}"
        );
        assert!(reader.pending.capacity() < 1024, "memory stays bounded");
    }
}
