//! Holding an instance's output capture still for a re-exec: once
//! [`CapturePause::pause`] returns, no capture task is between a read of a
//! gateway's pipe and the recording of what it read, and none reads again
//! until [`CapturePause::resume`]. The output written meanwhile stays in
//! the pipe, where the keeper finds (and spools) it after the exec.

use std::sync::Arc;

use tokio::sync::{RwLock, RwLockReadGuard, watch};

/// Shared by an instance's log and its capture tasks.
#[derive(Clone, Debug)]
pub struct CapturePause {
    paused: Arc<watch::Sender<bool>>,
    /// Held (shared) by a capture from its read to the recording.
    reading: Arc<RwLock<()>>,
}

impl Default for CapturePause {
    fn default() -> Self {
        CapturePause {
            paused: Arc::new(watch::Sender::new(false)),
            reading: Arc::new(RwLock::new(())),
        }
    }
}

impl CapturePause {
    /// Stop every capture reading; returns once none is mid-read.
    pub async fn pause(&self) {
        self.paused.send_replace(true);
        drop(self.reading.write().await);
    }

    /// Let the captures read again.
    pub fn resume(&self) {
        self.paused.send_replace(false);
    }

    /// A capture's turn to read: waits while paused; the guard is held
    /// until what was read is recorded.
    pub(super) async fn turn(&self) -> RwLockReadGuard<'_, ()> {
        let mut paused = self.paused.subscribe();
        loop {
            let _ = paused.wait_for(|paused| !*paused).await;
            let guard = self.reading.read().await;
            if !*self.paused.borrow() {
                return guard;
            }
        }
    }

    /// Resolves when a pause is asked for (at once if one is on).
    pub(super) async fn asked(&self) {
        let mut paused = self.paused.subscribe();
        let _ = paused.wait_for(|paused| *paused).await;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    use super::super::{LogSink, LogSpec};

    /// The bytes waiting in a pipe (FIONREAD works on either end).
    fn in_pipe(fd: &impl AsRawFd) -> i32 {
        let mut count: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int to the pointer given.
        let done = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut count) };
        assert_eq!(done, 0, "{}", std::io::Error::last_os_error());
        count
    }

    #[tokio::test]
    async fn a_paused_capture_leaves_the_output_in_the_pipe_until_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let sink = LogSink::start().unwrap();
        let log = sink.instance_log(dir.path().join("main.log"), LogSpec::default());
        let (reader, mut writer) = std::io::pipe().unwrap();
        let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(reader.into()).unwrap();
        let mut follow = log.cut(true).unwrap().follow.unwrap();
        let capture = tokio::spawn(log.clone().capture(7, reader));
        writeln!(writer, "before").unwrap();
        follow.recv().await.unwrap();
        log.pause_capture().await;
        writeln!(writer, "while paused").unwrap();
        // Nothing reads it: another pause (which waits for any read under
        // way) still finds it whole in the pipe.
        log.pause_capture().await;
        assert_eq!(in_pipe(&writer), "while paused\n".len() as i32);
        log.resume_capture();
        drop(writer);
        capture.await.unwrap();
        assert_eq!(
            log.tail_of(7, 10),
            vec!["before".to_string(), "while paused".to_string()]
        );
    }
}
