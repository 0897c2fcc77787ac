//! `metrics`: the supervisor's Prometheus text exposition on stdout, the
//! same text its `--metrics` listener serves at `/metrics`.

use std::io::Write;

use openclaw_supervisor::protocol::{Request, Response};

use super::{call, exit, unexpected};

/// Prints the exposition: 0 done, 1 refused or failed, 3 not running.
pub async fn print(path: &std::path::Path) -> anyhow::Result<u8> {
    match call(path, Request::Metrics).await {
        Ok(Response::Metrics { text }) => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(exit::OK)
        }
        Ok(other) => Ok(unexpected(&other)),
        Err(code) => Ok(code),
    }
}
