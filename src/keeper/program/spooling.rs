//! The keeper's spool: the gateway's output read into it while no
//! supervisor is connected (at most [`super::SPOOL_LIMIT`], the rest
//! counted), and replayed, with the times it was read, to the next one.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::os::unix::net::UnixStream;

use super::super::spool::{read_record, write_record};
use super::super::wire::FromKeeper;
use super::{Keeper, SPOOL_LIMIT};

impl Keeper {
    pub(super) fn replay(&mut self, conn: &mut UnixStream) -> io::Result<()> {
        match File::open(&self.spool) {
            Ok(file) => {
                let mut reader = BufReader::new(file);
                while let Some((at_ms, bytes)) = read_record(&mut reader)? {
                    conn.write_all(&FromKeeper::Output { at_ms, bytes }.encode())?;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        conn.write_all(
            &FromKeeper::Replayed {
                dropped: self.dropped,
            }
            .encode(),
        )?;
        // Handed over whole: start a new spool next time.
        let _ = std::fs::remove_file(&self.spool);
        self.spooled = 0;
        self.dropped = 0;
        Ok(())
    }

    /// Read a chunk of the gateway's output into the spool.
    pub(super) fn spool_some(&mut self) {
        let Some(pipe) = self.pipe.as_ref() else {
            return;
        };
        let mut buffer = vec![0u8; 64 * 1024];
        let read = match nix::unistd::read(pipe, &mut buffer) {
            Ok(0) => {
                self.pipe = None;
                return;
            }
            Ok(read) => read,
            // The supervisor may have left the shared description
            // non-blocking: a spurious wake-up.
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => return,
            Err(_) => {
                self.pipe = None;
                return;
            }
        };
        if self.spooled + read as u64 > SPOOL_LIMIT {
            self.dropped += read as u64;
            return;
        }
        if self.spooling.is_none() {
            self.spooling = open_spool(&self.spool).ok();
        }
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or(0);
        let written = match self.spooling.as_mut() {
            Some(file) => write_record(file, at_ms, &buffer[..read]).is_ok(),
            None => false,
        };
        if written {
            self.spooled += read as u64;
        } else {
            self.dropped += read as u64;
        }
    }
}

fn open_spool(path: &std::path::Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}
