//! The keeper's wire: length-prefixed frames over a unix stream socket
//! between a keeper and the supervisor. Pure: encode into bytes, decode
//! from a buffer that grows as bytes arrive; table tests below.
//!
//! A frame is `[u32 LE length of what follows][u8 kind][payload]`. The
//! keeper sends `Hello` first on every connection (the gateway's output
//! pipe rides along as `SCM_RIGHTS` while the keeper holds one), then the
//! output it spooled while no supervisor was connected (`Output` frames,
//! `Replayed` last), then `Exited` once the gateway is gone. The
//! supervisor answers `Exited` with `Ack`, after which the keeper reaps
//! the gateway and waits, idle, for its next order on that connection:
//! `Start` (the next gateway's spawn spec; answered like a connection:
//! `Hello` with the new pipe, `Replayed`, or `SpawnFailed` and idle
//! again) or `End`. An idle keeper whose connection closes ends.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::process::ExitKind;

/// What this build speaks; a keeper and a supervisor of one binary agree.
pub const VERSION: u32 = 2;

/// The oldest keeper this build adopts (a gateway started by the build
/// before an upgrade runs on). Version 1 says and hears what version 2
/// does up to `Ack`, and ends after it: it is never sent `Start` or `End`.
pub const OLDEST: u32 = 1;

/// The largest frame either side accepts (an output chunk is at most 64 KiB).
pub const MAX_FRAME: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromKeeper {
    /// The gateway the keeper holds; `output` says whether its output pipe
    /// comes with this frame.
    Hello {
        version: u32,
        pid: i32,
        start_time: u64,
        output: bool,
        /// The gateway is gone already (reaped: its pid may be another
        /// process's by now); `Exited` follows.
        gone: bool,
        marker: String,
    },
    /// Output read while no supervisor was connected, with when it was read
    /// (unix ms).
    Output { at_ms: u64, bytes: Vec<u8> },
    /// The spool is replayed; `dropped` bytes did not fit in it.
    Replayed { dropped: u64 },
    /// The gateway ended (not reaped until `Ack`, while connected).
    Exited(ExitKind),
    /// The gateway could not be started.
    SpawnFailed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToKeeper {
    /// The exit is heard: reap the gateway and wait for the next order.
    Ack,
    /// Start the next gateway (only to an idle keeper).
    Start(Box<Order>),
    /// No next gateway: end.
    End,
}

/// What a keeper starts a gateway with: what its command line, its own
/// environment and working directory say for its first one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Order {
    pub program: OsString,
    pub args: Vec<OsString>,
    /// The gateway's whole environment (its spawn marker included).
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Option<PathBuf>,
    /// The cgroup directory it joins before exec.
    pub cgroup: Option<PathBuf>,
    /// Its spawn marker, as `Hello` names it.
    pub marker: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("a frame of {0} bytes is over the limit")]
    TooLong(usize),
    #[error("an empty frame")]
    Empty,
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("a frame of kind {kind} is cut short")]
    Short { kind: u8 },
}

const HELLO: u8 = 1;
const OUTPUT: u8 = 2;
const REPLAYED: u8 = 3;
const EXITED: u8 = 4;
const SPAWN_FAILED: u8 = 5;
const ACK: u8 = 10;
const START: u8 = 11;
const END: u8 = 12;

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.extend_from_slice(&((payload.len() + 1) as u32).to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
    out
}

impl FromKeeper {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            FromKeeper::Hello {
                version,
                pid,
                start_time,
                output,
                gone,
                marker,
            } => {
                let mut payload = Vec::with_capacity(17 + marker.len());
                payload.extend_from_slice(&version.to_le_bytes());
                payload.extend_from_slice(&pid.to_le_bytes());
                payload.extend_from_slice(&start_time.to_le_bytes());
                payload.push(u8::from(*output) | (u8::from(*gone) << 1));
                payload.extend_from_slice(marker.as_bytes());
                frame(HELLO, &payload)
            }
            FromKeeper::Output { at_ms, bytes } => {
                let mut payload = Vec::with_capacity(8 + bytes.len());
                payload.extend_from_slice(&at_ms.to_le_bytes());
                payload.extend_from_slice(bytes);
                frame(OUTPUT, &payload)
            }
            FromKeeper::Replayed { dropped } => frame(REPLAYED, &dropped.to_le_bytes()),
            FromKeeper::Exited(exit) => {
                let (how, value) = match exit {
                    ExitKind::Code(code) => (0u8, *code),
                    ExitKind::Signal(signal) => (1u8, *signal),
                };
                let mut payload = vec![how];
                payload.extend_from_slice(&value.to_le_bytes());
                frame(EXITED, &payload)
            }
            FromKeeper::SpawnFailed(why) => frame(SPAWN_FAILED, why.as_bytes()),
        }
    }
}

impl ToKeeper {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            ToKeeper::Ack => frame(ACK, &[]),
            ToKeeper::End => frame(END, &[]),
            ToKeeper::Start(order) => frame(START, &order.payload()),
        }
    }
}

/// `[u32 LE length][bytes]`.
fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// An optional path: absent is a zero flag byte.
fn put_path(out: &mut Vec<u8>, path: &Option<PathBuf>) {
    match path {
        Some(path) => {
            out.push(1);
            put(out, path.as_os_str().as_bytes());
        }
        None => out.push(0),
    }
}

/// Reads the fields [`put`] wrote, or says the frame is short.
struct Fields<'a> {
    rest: &'a [u8],
    kind: u8,
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Short { kind: self.kind });
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn count(&mut self) -> Result<usize, WireError> {
        Ok(u32::from_le_bytes(array(self.take(4)?)) as usize)
    }

    fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.count()?;
        self.take(n)
    }

    fn os(&mut self) -> Result<OsString, WireError> {
        Ok(OsStr::from_bytes(self.bytes()?).to_os_string())
    }

    fn path(&mut self) -> Result<Option<PathBuf>, WireError> {
        match self.take(1)?[0] {
            0 => Ok(None),
            _ => Ok(Some(PathBuf::from(self.os()?))),
        }
    }
}

impl Order {
    fn payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        put(&mut out, self.program.as_bytes());
        put(&mut out, self.marker.as_bytes());
        put_path(&mut out, &self.cwd);
        put_path(&mut out, &self.cgroup);
        out.extend_from_slice(&(self.args.len() as u32).to_le_bytes());
        for arg in &self.args {
            put(&mut out, arg.as_bytes());
        }
        out.extend_from_slice(&(self.env.len() as u32).to_le_bytes());
        for (key, value) in &self.env {
            put(&mut out, key.as_bytes());
            put(&mut out, value.as_bytes());
        }
        out
    }

    fn parse(payload: &[u8]) -> Result<Order, WireError> {
        let mut fields = Fields {
            rest: payload,
            kind: START,
        };
        let program = fields.os()?;
        let marker = String::from_utf8_lossy(fields.bytes()?).into_owned();
        let cwd = fields.path()?;
        let cgroup = fields.path()?;
        // Each field takes 4 bytes at least: a count beyond what is left
        // is a short frame, not a huge allocation.
        let args_count = fields.count()?;
        let mut args = Vec::with_capacity(args_count.min(fields.rest.len() / 4));
        for _ in 0..args_count {
            args.push(fields.os()?);
        }
        let env_count = fields.count()?;
        let mut env = Vec::with_capacity(env_count.min(fields.rest.len() / 8));
        for _ in 0..env_count {
            env.push((fields.os()?, fields.os()?));
        }
        Ok(Order {
            program,
            args,
            env,
            cwd,
            cgroup,
            marker,
        })
    }
}

/// Bytes in, frames out.
#[derive(Debug, Default)]
pub struct Decoder {
    buffer: Vec<u8>,
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole frame's kind and payload, if one is buffered.
    fn next_frame(&mut self) -> Result<Option<(u8, Vec<u8>)>, WireError> {
        let Some(head) = self.buffer.get(..4) else {
            return Ok(None);
        };
        let mut length = [0u8; 4];
        length.copy_from_slice(head);
        let length = u32::from_le_bytes(length) as usize;
        if length > MAX_FRAME {
            return Err(WireError::TooLong(length));
        }
        if length == 0 {
            return Err(WireError::Empty);
        }
        if self.buffer.len() < 4 + length {
            return Ok(None);
        }
        let rest = self.buffer.split_off(4 + length);
        let whole = std::mem::replace(&mut self.buffer, rest);
        Ok(Some((whole[4], whole[5..].to_vec())))
    }

    /// The next message from a keeper, if a whole one is buffered.
    pub fn from_keeper(&mut self) -> Result<Option<FromKeeper>, WireError> {
        let Some((kind, payload)) = self.next_frame()? else {
            return Ok(None);
        };
        let short = WireError::Short { kind };
        let message = match kind {
            HELLO => {
                if payload.len() < 17 {
                    return Err(short);
                }
                FromKeeper::Hello {
                    version: u32::from_le_bytes(array(&payload[0..4])),
                    pid: i32::from_le_bytes(array(&payload[4..8])),
                    start_time: u64::from_le_bytes(array(&payload[8..16])),
                    output: payload[16] & 1 != 0,
                    gone: payload[16] & 2 != 0,
                    marker: String::from_utf8_lossy(&payload[17..]).into_owned(),
                }
            }
            OUTPUT => {
                if payload.len() < 8 {
                    return Err(short);
                }
                FromKeeper::Output {
                    at_ms: u64::from_le_bytes(array(&payload[0..8])),
                    bytes: payload[8..].to_vec(),
                }
            }
            REPLAYED => {
                if payload.len() < 8 {
                    return Err(short);
                }
                FromKeeper::Replayed {
                    dropped: u64::from_le_bytes(array(&payload[0..8])),
                }
            }
            EXITED => {
                if payload.len() < 5 {
                    return Err(short);
                }
                let value = i32::from_le_bytes(array(&payload[1..5]));
                FromKeeper::Exited(match payload[0] {
                    0 => ExitKind::Code(value),
                    _ => ExitKind::Signal(value),
                })
            }
            SPAWN_FAILED => FromKeeper::SpawnFailed(String::from_utf8_lossy(&payload).into_owned()),
            other => return Err(WireError::UnknownKind(other)),
        };
        Ok(Some(message))
    }

    /// The next message from the supervisor, if a whole one is buffered.
    pub fn to_keeper(&mut self) -> Result<Option<ToKeeper>, WireError> {
        match self.next_frame()? {
            None => Ok(None),
            Some((ACK, _)) => Ok(Some(ToKeeper::Ack)),
            Some((END, _)) => Ok(Some(ToKeeper::End)),
            Some((START, payload)) => Ok(Some(ToKeeper::Start(Box::new(Order::parse(&payload)?)))),
            Some((other, _)) => Err(WireError::UnknownKind(other)),
        }
    }
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_decodes_to_itself_whole_and_byte_by_byte() {
        let messages = [
            FromKeeper::Hello {
                version: VERSION,
                pid: 4242,
                start_time: 987_654_321,
                output: true,
                gone: false,
                marker: "main:123.456:7".into(),
            },
            FromKeeper::Hello {
                version: 9,
                pid: -1,
                start_time: 0,
                output: false,
                gone: true,
                marker: String::new(),
            },
            FromKeeper::Output {
                at_ms: 1_764_000_000_000,
                bytes: b"line one\nhalf a li".to_vec(),
            },
            FromKeeper::Output {
                at_ms: 0,
                bytes: Vec::new(),
            },
            FromKeeper::Replayed { dropped: 12 },
            FromKeeper::Exited(ExitKind::Code(78)),
            FromKeeper::Exited(ExitKind::Signal(9)),
            FromKeeper::SpawnFailed("No such file or directory (os error 2)".into()),
        ];
        for message in &messages {
            let mut whole = Decoder::default();
            whole.push(&message.encode());
            assert_eq!(whole.from_keeper(), Ok(Some(message.clone())));
            assert_eq!(whole.from_keeper(), Ok(None));

            let mut bytewise = Decoder::default();
            let bytes = message.encode();
            let (last, head) = bytes.split_last().expect("a frame has bytes");
            for byte in head {
                bytewise.push(&[*byte]);
                assert_eq!(bytewise.from_keeper(), Ok(None), "{message:?}");
            }
            bytewise.push(&[*last]);
            assert_eq!(bytewise.from_keeper(), Ok(Some(message.clone())));
        }
        // Back to back in one buffer, in order.
        let mut all = Decoder::default();
        for message in &messages {
            all.push(&message.encode());
        }
        for message in &messages {
            assert_eq!(all.from_keeper(), Ok(Some(message.clone())));
        }
        assert_eq!(all.from_keeper(), Ok(None));
    }

    fn order() -> Order {
        Order {
            program: "/usr/bin/openclaw".into(),
            args: vec!["gateway".into(), "--port".into(), "18789".into()],
            env: vec![
                ("HOME".into(), "/home/a".into()),
                ("OPENCLAW_SUPERVISOR_SPAWN".into(), "main:1.2:3".into()),
                ("EMPTY".into(), "".into()),
            ],
            cwd: Some("/srv/main".into()),
            cgroup: Some("/sys/fs/cgroup/x/openclaw-supervisor.1/main".into()),
            marker: "main:1.2:3".into(),
        }
    }

    #[test]
    fn every_order_decodes_to_itself_whole_and_byte_by_byte() {
        let non_utf8 = Order {
            program: OsStr::from_bytes(b"/opt/gw\xff").to_os_string(),
            args: vec![OsStr::from_bytes(b"--name=\xfe").to_os_string()],
            ..Order::default()
        };
        let orders = [
            ToKeeper::Ack,
            ToKeeper::End,
            ToKeeper::Start(Box::new(order())),
            ToKeeper::Start(Box::default()),
            ToKeeper::Start(Box::new(Order {
                cwd: None,
                ..order()
            })),
            ToKeeper::Start(Box::new(non_utf8)),
        ];
        for message in &orders {
            let bytes = message.encode();
            let mut bytewise = Decoder::default();
            let (last, head) = bytes.split_last().expect("a frame has bytes");
            for byte in head {
                bytewise.push(&[*byte]);
                assert_eq!(bytewise.to_keeper(), Ok(None), "{message:?}");
            }
            bytewise.push(&[*last]);
            assert_eq!(bytewise.to_keeper(), Ok(Some(message.clone())));
        }
        let mut all = Decoder::default();
        for message in &orders {
            all.push(&message.encode());
        }
        for message in &orders {
            assert_eq!(all.to_keeper(), Ok(Some(message.clone())));
        }
        assert_eq!(all.to_keeper(), Ok(None));
    }

    #[test]
    fn a_cut_or_lying_order_is_short_not_a_panic_or_a_huge_allocation() {
        let whole = order().payload();
        for cut in [0, 3, 4, 10, whole.len() - 1] {
            let mut decoder = Decoder::default();
            decoder.push(&frame(START, &whole[..cut]));
            assert_eq!(
                decoder.to_keeper(),
                Err(WireError::Short { kind: START }),
                "cut at {cut}"
            );
        }
        // An argument count of 4 billion with nothing behind it.
        let mut lying = Vec::new();
        put(&mut lying, b"/gw");
        put(&mut lying, b"m");
        lying.extend_from_slice(&[0, 0]);
        lying.extend_from_slice(&u32::MAX.to_le_bytes());
        let mut decoder = Decoder::default();
        decoder.push(&frame(START, &lying));
        assert_eq!(decoder.to_keeper(), Err(WireError::Short { kind: START }));
    }

    #[test]
    fn the_ack_decodes_and_nothing_else_does_on_the_keepers_side() {
        let mut decoder = Decoder::default();
        decoder.push(&ToKeeper::Ack.encode());
        assert_eq!(decoder.to_keeper(), Ok(Some(ToKeeper::Ack)));
        decoder.push(&FromKeeper::Replayed { dropped: 0 }.encode());
        assert_eq!(decoder.to_keeper(), Err(WireError::UnknownKind(REPLAYED)));
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        let rows: [(Vec<u8>, WireError); 5] = [
            (vec![0, 0, 0, 0], WireError::Empty),
            (
                ((MAX_FRAME + 1) as u32).to_le_bytes().to_vec(),
                WireError::TooLong(MAX_FRAME + 1),
            ),
            (vec![1, 0, 0, 0, 99], WireError::UnknownKind(99)),
            (
                vec![3, 0, 0, 0, HELLO, 1, 2],
                WireError::Short { kind: HELLO },
            ),
            (
                vec![2, 0, 0, 0, EXITED, 0],
                WireError::Short { kind: EXITED },
            ),
        ];
        for (bytes, expected) in rows {
            let mut decoder = Decoder::default();
            decoder.push(&bytes);
            assert_eq!(decoder.from_keeper(), Err(expected), "{bytes:?}");
        }
    }
}
