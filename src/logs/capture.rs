//! Reading a gateway's pipe into its [`InstanceLog`], line by line (held
//! still by its [`super::CapturePause`] for a re-exec).

use tokio::io::AsyncReadExt;

use super::{InstanceLog, MAX_LINE, plain_text};

impl InstanceLog {
    /// Read the pipe of the gateway `pid` until EOF, recording each line.
    /// Invalid UTF-8 is replaced, over-long lines are cut.
    pub async fn capture(self, pid: i32, pipe: tokio::net::unix::pipe::Receiver) {
        self.capture_noting(pid, Vec::new(), None, Some(pipe), |_| {})
            .await
    }

    /// [`InstanceLog::capture`], after the output a keeper `spooled` (with
    /// the times it was read) and with `pipe` optional (a kept gateway's
    /// pipe may be closed already), also handing each line (without
    /// escapes) to `note`: how the instance hears what the gateway says
    /// about itself (its restart-loop breaker).
    pub async fn capture_noting(
        self,
        pid: i32,
        spooled: Vec<(u64, Vec<u8>)>,
        then: Option<String>,
        pipe: Option<tokio::net::unix::pipe::Receiver>,
        mut note: impl FnMut(&str) + Send,
    ) {
        let mut record = |text: &str, at: Option<u64>| {
            let plain = plain_text(text);
            self.line_at(pid, &plain, at);
            note(&plain);
        };
        let mut pending: Vec<u8> = Vec::new();
        let mut split = |pending: &mut Vec<u8>, at: Option<u64>| {
            while let Some(newline) = pending.iter().position(|b| *b == b'\n') {
                let rest = pending.split_off(newline + 1);
                pending.truncate(newline);
                record(&String::from_utf8_lossy(pending), at);
                *pending = rest;
            }
            while pending.len() >= MAX_LINE {
                let rest = pending.split_off(MAX_LINE);
                record(&String::from_utf8_lossy(pending), at);
                *pending = rest;
            }
        };
        for (at, bytes) in spooled {
            pending.extend_from_slice(&bytes);
            split(&mut pending, Some(at));
        }
        // A marker of the supervisor's after what was spooled (written
        // before it), so the file stays in time order.
        if let Some(marker) = then {
            self.marker(&marker);
        }
        if let Some(mut pipe) = pipe {
            let mut buffer = vec![0u8; 8192];
            loop {
                // Held until what is read is recorded (a pause waits).
                let turn = self.pause.turn().await;
                let read = tokio::select! {
                    () = self.pause.asked() => continue,
                    read = pipe.read(&mut buffer) => read,
                };
                let read = match read {
                    Ok(0) | Err(_) => break,
                    Ok(read) => read,
                };
                pending.extend_from_slice(&buffer[..read]);
                split(&mut pending, None);
                drop(turn);
            }
        }
        if !pending.is_empty() {
            record(&String::from_utf8_lossy(&pending), None);
        }
    }
}
