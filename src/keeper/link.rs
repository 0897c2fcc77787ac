//! The supervisor's side of a keeper: start a gateway through one, adopt a
//! kept gateway over its socket, and hear the gateway's exit.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::sync::{mpsc, oneshot};

use super::wire::{Decoder, FromKeeper, OLDEST, Order, ToKeeper, VERSION, WireError};
use crate::process::{ChildExit, ExitKind, SpawnError, SpawnSpec, Spawner};

/// How long a keeper has to say that its gateway started.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the keeper's connection failed: {0}")]
    Io(#[from] io::Error),
    #[error("the keeper sent a bad frame: {0}")]
    Wire(#[from] WireError),
    #[error("the keeper ended before it said which gateway it keeps")]
    Ended,
    #[error("the keeper speaks version {0}, this supervisor {OLDEST} to {VERSION}")]
    Version(u32),
    #[error("{0}")]
    SpawnFailed(String),
    #[error("the keeper did not answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("the keeper sent {0} before its hello")]
    OutOfOrder(&'static str),
    #[error("not our keeper: {0}")]
    NotOurs(String),
}

/// A gateway held by a keeper, as the keeper told it on connecting.
#[derive(Debug)]
pub struct Kept {
    pub pid: i32,
    pub start_time: u64,
    pub marker: String,
    /// The gateway's output (stdout and stderr), while it is open.
    pub output: Option<tokio::net::unix::pipe::Receiver>,
    /// Output the keeper read while no supervisor was connected, with when
    /// (unix ms).
    pub spooled: Vec<(u64, Vec<u8>)>,
    /// Bytes that did not fit in the spool.
    pub dropped: u64,
    /// The gateway was gone (reaped) when the keeper said hello.
    pub gone: bool,
    pub link: Link,
}

/// The connection to a keeper after its hello.
#[derive(Debug)]
pub struct Link {
    stream: tokio::net::UnixStream,
    decoder: Decoder,
    /// What its last hello said it speaks.
    version: u32,
}

async fn read_some(
    stream: &tokio::net::UnixStream,
    buffer: &mut [u8],
) -> io::Result<(usize, Vec<OwnedFd>)> {
    loop {
        stream.readable().await?;
        match stream.try_io(Interest::READABLE, || {
            super::recv_with_fds(stream.as_raw_fd(), buffer)
        }) {
            Ok(read) => return Ok(read),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Read a keeper's hello and its replayed spool.
pub async fn handshake(stream: tokio::net::UnixStream) -> Result<Kept, LinkError> {
    let mut link = Link {
        stream,
        decoder: Decoder::default(),
        version: VERSION,
    };
    let greeting = link.greeting().await?;
    Ok(greeting.kept(link))
}

/// What a keeper says of the gateway it holds: its hello and spool.
struct Greeting {
    pid: i32,
    start_time: u64,
    marker: String,
    output: Option<tokio::net::unix::pipe::Receiver>,
    spooled: Vec<(u64, Vec<u8>)>,
    dropped: u64,
    gone: bool,
}

impl Greeting {
    fn kept(self, link: Link) -> Kept {
        Kept {
            pid: self.pid,
            start_time: self.start_time,
            marker: self.marker,
            output: self.output,
            spooled: self.spooled,
            dropped: self.dropped,
            gone: self.gone,
            link,
        }
    }
}

/// How long an idle keeper has to answer `Start` (it forks and execs, no
/// more) before it is given up and replaced by a new one.
pub const ORDER_TIMEOUT: Duration = Duration::from_secs(10);

impl Link {
    /// The keeper waits for a next order after `Ack` (a keeper of the build
    /// before version 2 ends then: it is never idle).
    pub fn takes_orders(&self) -> bool {
        self.version >= 2
    }

    /// Read a hello (on connecting, or after `Start`) and the spool after it.
    async fn greeting(&mut self) -> Result<Greeting, LinkError> {
        let mut fds: Vec<OwnedFd> = Vec::new();
        let mut hello = None;
        let mut spooled = Vec::new();
        // Small: hundreds of instances shake hands at once at start, and a
        // calloc'd block reused from the heap is written whole.
        let mut buffer = vec![0u8; 8 * 1024];
        loop {
            while let Some(message) = self.decoder.from_keeper()? {
                match message {
                    FromKeeper::Hello { version, .. } if !(OLDEST..=VERSION).contains(&version) => {
                        return Err(LinkError::Version(version));
                    }
                    FromKeeper::Hello {
                        version,
                        pid,
                        start_time,
                        output,
                        gone,
                        marker,
                        ..
                    } => {
                        let pipe = match output {
                            true if !fds.is_empty() => Some(fds.remove(0)),
                            _ => None,
                        };
                        self.version = version;
                        hello = Some((pid, start_time, marker, pipe, gone));
                    }
                    FromKeeper::Output { at_ms, bytes } => spooled.push((at_ms, bytes)),
                    FromKeeper::Replayed { dropped } => {
                        let (pid, start_time, marker, pipe, gone) =
                            hello.ok_or(LinkError::OutOfOrder("its spool"))?;
                        let output = pipe
                            .map(tokio::net::unix::pipe::Receiver::from_owned_fd)
                            .transpose()?;
                        return Ok(Greeting {
                            pid,
                            start_time,
                            marker,
                            output,
                            spooled,
                            dropped,
                            gone,
                        });
                    }
                    FromKeeper::SpawnFailed(why) => return Err(LinkError::SpawnFailed(why)),
                    FromKeeper::Exited(_) => return Err(LinkError::OutOfOrder("an exit")),
                }
            }
            let (read, passed) = read_some(&self.stream, &mut buffer).await?;
            if read == 0 {
                return Err(LinkError::Ended);
            }
            self.decoder.push(&buffer[..read]);
            fds.extend(passed);
        }
    }

    /// Order an idle keeper to start the next gateway. Its `SpawnFailed`
    /// gives the link back (the keeper is idle still); any other failure,
    /// or no answer within [`ORDER_TIMEOUT`], gives it up.
    pub async fn start(mut self, order: Order) -> Result<Kept, (LinkError, Option<Link>)> {
        if let Err(err) = self
            .stream
            .write_all(&ToKeeper::Start(Box::new(order)).encode())
            .await
        {
            return Err((err.into(), None));
        }
        match tokio::time::timeout(ORDER_TIMEOUT, self.greeting()).await {
            Ok(Ok(greeting)) => Ok(greeting.kept(self)),
            Ok(Err(err @ LinkError::SpawnFailed(_))) => Err((err, Some(self))),
            Ok(Err(err)) => Err((err, None)),
            Err(_) => Err((LinkError::Timeout(ORDER_TIMEOUT), None)),
        }
    }

    /// Tell an idle keeper to end, and wait (a little) until it has.
    pub async fn end(mut self) {
        if self.stream.write_all(&ToKeeper::End.encode()).await.is_ok() {
            let _ = tokio::time::timeout(END_WAIT, self.closed()).await;
        }
    }

    /// The gateway's exit; an error when the keeper is gone without telling.
    pub async fn exited(&mut self) -> Result<ExitKind, LinkError> {
        let mut buffer = [0u8; 4096];
        loop {
            while let Some(message) = self.decoder.from_keeper()? {
                if let FromKeeper::Exited(exit) = message {
                    return Ok(exit);
                }
            }
            let read = self.stream.read(&mut buffer).await?;
            if read == 0 {
                return Err(LinkError::Ended);
            }
            self.decoder.push(&buffer[..read]);
        }
    }

    /// Until the keeper closes its end (it ends).
    pub async fn closed(&mut self) {
        let mut buffer = [0u8; 256];
        while let Ok(read) = self.stream.read(&mut buffer).await {
            if read == 0 {
                return;
            }
        }
    }

    /// Tell the keeper its gateway's exit is heard (it reaps and waits for
    /// the next order).
    pub async fn ack(&mut self) -> io::Result<()> {
        self.stream.write_all(&ToKeeper::Ack.encode()).await
    }
}

/// Where a keeper listens and spools, and the cgroup its gateway joins.
#[derive(Debug, Clone)]
pub struct KeeperPlace {
    /// The binary that runs as the keeper (the supervisor's own).
    pub exe: PathBuf,
    pub socket: PathBuf,
    pub spool: PathBuf,
    pub cgroup: Option<PathBuf>,
}

/// Start the gateway `spec` under a new keeper. The keeper is the
/// spawner's child (its own process group, not in the instance's cgroup);
/// the gateway is the keeper's.
pub async fn spawn(
    spawner: &Spawner,
    place: &KeeperPlace,
    spec: &SpawnSpec,
) -> Result<(i32, Kept), LinkError> {
    if let Some(dir) = place.socket.parent() {
        crate::instance::create_private_dir(dir)?;
    }
    let mut args = vec![
        "keep".to_string(),
        "--wire".into(),
        super::wire::VERSION.to_string(),
        "--socket".into(),
        place.socket.to_string_lossy().into_owned(),
        "--spool".into(),
        place.spool.to_string_lossy().into_owned(),
    ];
    if let Some(cgroup) = &place.cgroup {
        args.extend(["--cgroup".into(), cgroup.to_string_lossy().into_owned()]);
    }
    args.push("--".into());
    args.push(spec.program.to_string_lossy().into_owned());
    args.extend(spec.args.iter().cloned());
    // The keeper does not carry the spawn marker: it is not one of the
    // gateway's processes (stopping an instance never signals it); it
    // hands the marker on to the gateway.
    let mut env = spec.env.clone();
    if let Some(marker) = env.remove(crate::process::SPAWN_MARKER_VAR) {
        env.insert(super::MARKER_FOR_GATEWAY.to_string(), marker);
    }
    let keeper_spec = SpawnSpec {
        program: place.exe.clone(),
        args,
        env,
        cwd: spec.cwd.clone(),
        capture_output: false,
        pipe_stdin: false,
    };
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    // Its exit is nobody's business: the gateway's comes over the link.
    let (keeper_exits, _) = mpsc::unbounded_channel();
    let keeper = spawner.spawn_passing(&keeper_spec, keeper_exits, OwnedFd::from(theirs))?;
    ours.set_nonblocking(true)?;
    let stream = tokio::net::UnixStream::from_std(ours)?;
    match tokio::time::timeout(HELLO_TIMEOUT, handshake(stream)).await {
        Ok(Ok(kept)) => Ok((keeper.pid, kept)),
        Ok(Err(err)) => Err(err),
        Err(_) => {
            spawner.signal_group_if_unreaped(keeper.pid, nix::sys::signal::Signal::SIGKILL);
            Err(LinkError::Timeout(HELLO_TIMEOUT))
        }
    }
}

/// Connect to the keeper listening at `socket` and take its gateway over.
/// The peer must run as our user and, when `keeper` (pid, start time) is
/// given, be that process.
pub async fn adopt(socket: &Path, keeper: Option<(i32, Option<u64>)>) -> Result<Kept, LinkError> {
    let stream = super::connect(socket)?;
    if !super::peer_is_us(&stream) {
        return Err(LinkError::NotOurs("it does not run as our user".into()));
    }
    if let Some((pid, start_time)) = keeper {
        let peer =
            nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials)
                .map(|cred| cred.pid())
                .map_err(io::Error::from)?;
        if peer != pid {
            return Err(LinkError::NotOurs(format!(
                "pid {peer} answers, the record names keeper pid {pid}"
            )));
        }
        if start_time.is_some() && crate::process::process_start_time(pid) != start_time {
            return Err(LinkError::NotOurs(format!(
                "keeper pid {pid} is another process than the recorded one"
            )));
        }
    }
    stream.set_nonblocking(true)?;
    let stream = tokio::net::UnixStream::from_std(stream)?;
    match tokio::time::timeout(HELLO_TIMEOUT, handshake(stream)).await {
        Ok(answer) => answer,
        Err(_) => Err(LinkError::Timeout(HELLO_TIMEOUT)),
    }
}

/// The actor's hold on a kept gateway: the exit is delivered to the
/// actor's exits channel like a reaped child's, and acknowledged when the
/// actor says so.
#[derive(Debug)]
pub struct Watch {
    ack: Option<oneshot::Sender<()>>,
    /// Answered once the ack is sent, with the link to the keeper, idle
    /// now (none when it is gone).
    acked: Option<oneshot::Receiver<Option<Link>>>,
    held: Arc<AtomicBool>,
}

/// How long a keeper told to end gets to be gone.
const END_WAIT: Duration = Duration::from_secs(2);

impl Watch {
    /// Whether the keeper still holds the gateway unreaped (so its pid, the
    /// group id, is still the gateway's).
    pub fn holds(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }

    /// The exit is handled: let the keeper reap the gateway. Answers the
    /// link to the keeper, idle now and ready for its next order (none
    /// when the keeper is gone, or the gateway's exit was not its word).
    pub async fn ack(&mut self) -> Option<Link> {
        if let Some(ack) = self.ack.take() {
            let _ = ack.send(());
        }
        match self.acked.take() {
            Some(acked) => acked.await.ok().flatten(),
            None => None,
        }
    }
}

/// Hear the exit of the gateway `pid` over `link` and send it to `exits`.
/// When the keeper is gone without telling, the gateway became the
/// supervisor's own child (it is a subreaper) and the reaper delivers its
/// exit; a gateway that is nobody's child of ours (its keeper was an
/// earlier supervisor's) is watched through a pidfd and its exit status is
/// unknown (`exit code -1`).
/// What a watch is about: the instance, its gateway and the gateway's
/// keeper (pid and start time, when known).
#[derive(Debug, Clone)]
pub struct Held {
    pub name: String,
    pub pid: i32,
    pub start_time: u64,
    pub keeper: Option<(i32, Option<u64>)>,
}

/// How long a keeper that closed its link gets to be gone before its
/// gateway is looked for among the supervisor's children.
const KEEPER_GONE_WAIT: Duration = Duration::from_secs(5);

pub fn watch(
    mut link: Link,
    gone: bool,
    held_as: Held,
    exits: mpsc::UnboundedSender<ChildExit>,
    spawner: Spawner,
) -> Watch {
    let Held {
        name,
        pid,
        start_time,
        keeper,
    } = held_as;
    let (ack_tx, ack_rx) = oneshot::channel();
    let (acked_tx, acked_rx) = oneshot::channel();
    // A gateway its keeper reaped already is held by nobody: its pid is
    // never signalled as its.
    let held = Arc::new(AtomicBool::new(!gone));
    let holding = held.clone();
    tokio::spawn(async move {
        match link.exited().await {
            Ok(exit) => {
                let _ = exits.send(ChildExit { pid, exit });
                let mut idle = None;
                if ack_rx.await.is_ok() {
                    holding.store(false, Ordering::SeqCst);
                    if link.ack().await.is_ok() && link.takes_orders() {
                        idle = Some(link);
                    }
                }
                let _ = acked_tx.send(idle);
            }
            Err(err) => {
                holding.store(false, Ordering::SeqCst);
                // The kernel closes a dying process's descriptors before it
                // hands its children on: wait until the keeper is gone, so
                // the gateway is the supervisor's child by then.
                if let Some((keeper_pid, keeper_start)) = keeper {
                    let gone = wait_for_exit(keeper_pid, keeper_start.unwrap_or(0));
                    let _ = tokio::time::timeout(KEEPER_GONE_WAIT, gone).await;
                }
                if spawner.take_over(pid, start_time, exits.clone()) {
                    tracing::warn!(instance = %name, pid, error = %err, "the gateway's keeper is gone: the gateway is the supervisor's own child now");
                    return;
                }
                tracing::warn!(instance = %name, pid, error = %err, "the gateway's keeper is gone: its exit status will not be known");
                wait_for_exit(pid, start_time).await;
                let _ = exits.send(ChildExit {
                    pid,
                    exit: ExitKind::Code(-1),
                });
            }
        }
    });
    Watch {
        ack: Some(ack_tx),
        acked: Some(acked_rx),
        held,
    }
}

/// Until the process `pid` that started at `start_time` is gone.
async fn wait_for_exit(pid: i32, start_time: u64) {
    let same = || crate::process::process_start_time(pid) == Some(start_time);
    let pidfd = crate::process::pidfd_open(pid).filter(|_| same());
    // SAFETY: the AsyncFd owns the pidfd and deregisters it before it is
    // closed (the I/O-safety condition of `register_with_interest`).
    let registered = pidfd.map(|fd| unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, Interest::READABLE)
    });
    match registered {
        Some(Ok(fd)) => {
            let _ = fd.readable().await;
        }
        _ => {
            while same() && !crate::process::is_zombie(pid) {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn hello(version: u32) -> Vec<u8> {
        let mut bytes = FromKeeper::Hello {
            version,
            pid: 4242,
            start_time: 77,
            output: false,
            gone: false,
            marker: "main:1.2:3".into(),
        }
        .encode();
        bytes.extend(FromKeeper::Replayed { dropped: 0 }.encode());
        bytes
    }

    /// The handshake with a keeper that says `bytes`.
    async fn greet(bytes: Vec<u8>) -> Result<Kept, LinkError> {
        let (ours, mut theirs) = tokio::net::UnixStream::pair().expect("socket pair");
        theirs.write_all(&bytes).await.expect("hello");
        handshake(ours).await
    }

    #[tokio::test]
    async fn a_keeper_of_the_build_before_is_adopted_but_never_given_orders() {
        // (version, adopted, takes orders)
        let rows = [
            (VERSION, true, true),
            (1, true, false),
            (0, false, false),
            (VERSION + 1, false, false),
        ];
        for (version, adopted, orders) in rows {
            match greet(hello(version)).await {
                Ok(kept) => {
                    assert!(adopted, "version {version} adopted");
                    assert_eq!((kept.pid, kept.start_time), (4242, 77));
                    assert_eq!(kept.link.takes_orders(), orders, "version {version}");
                }
                Err(LinkError::Version(said)) => {
                    assert!(!adopted, "version {version} refused");
                    assert_eq!(said, version);
                }
                Err(other) => panic!("version {version}: {other}"),
            }
        }
    }
}
