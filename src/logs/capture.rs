//! Reading a gateway's pipe into its [`InstanceLog`], line by line (held
//! still by its [`super::CapturePause`] for a re-exec).

use std::cell::RefCell;

use super::{InstanceLog, MAX_LINE, plain_text};

/// How much one read of a gateway's pipe takes at most.
const READ_SIZE: usize = 8192;

thread_local! {
    /// The read buffer every capture on this thread shares (each read is
    /// done and recorded before the next wait).
    static READ_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

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
        if let Some(pipe) = pipe {
            loop {
                // Held until what is read is recorded (a pause waits).
                let turn = self.pause.turn().await;
                let ready = tokio::select! {
                    () = self.pause.asked() => continue,
                    ready = pipe.readable() => ready,
                };
                if ready.is_err() {
                    break;
                }
                // Read into the thread's buffer, never held across a wait:
                // a gateway at rest costs no read buffer of its own.
                let read = READ_BUFFER.with_borrow_mut(|buffer| {
                    buffer.resize(READ_SIZE, 0);
                    let read = pipe.try_read(buffer)?;
                    pending.extend_from_slice(&buffer[..read]);
                    Ok::<_, std::io::Error>(read)
                });
                match read {
                    Ok(0) => break,
                    Ok(_) => split(&mut pending, None),
                    // readiness that was not (it is cleared by try_read)
                    Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => break,
                }
                drop(turn);
            }
        }
        if !pending.is_empty() {
            record(&String::from_utf8_lossy(&pending), None);
        }
    }
}
