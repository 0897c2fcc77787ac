//! Signal names on the wire: the set an operator may send to an instance.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A signal an operator may send to an instance's process group. Written
/// `"TERM"`, `"SIGTERM"` or `"term"` on the wire; always sent as `"SIGTERM"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalName {
    Hup,
    Int,
    Quit,
    Kill,
    Usr1,
    Usr2,
    Term,
    Cont,
    Stop,
    Tstp,
    Winch,
}

impl SignalName {
    pub const ALL: [SignalName; 11] = [
        SignalName::Hup,
        SignalName::Int,
        SignalName::Quit,
        SignalName::Kill,
        SignalName::Usr1,
        SignalName::Usr2,
        SignalName::Term,
        SignalName::Cont,
        SignalName::Stop,
        SignalName::Tstp,
        SignalName::Winch,
    ];

    /// The name with its `SIG` prefix, as the wire and `kill -l` spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalName::Hup => "SIGHUP",
            SignalName::Int => "SIGINT",
            SignalName::Quit => "SIGQUIT",
            SignalName::Kill => "SIGKILL",
            SignalName::Usr1 => "SIGUSR1",
            SignalName::Usr2 => "SIGUSR2",
            SignalName::Term => "SIGTERM",
            SignalName::Cont => "SIGCONT",
            SignalName::Stop => "SIGSTOP",
            SignalName::Tstp => "SIGTSTP",
            SignalName::Winch => "SIGWINCH",
        }
    }

    /// The signal number on this platform (for `nix::sys::signal::Signal::try_from`).
    pub fn number(self) -> i32 {
        match self {
            SignalName::Hup => libc::SIGHUP,
            SignalName::Int => libc::SIGINT,
            SignalName::Quit => libc::SIGQUIT,
            SignalName::Kill => libc::SIGKILL,
            SignalName::Usr1 => libc::SIGUSR1,
            SignalName::Usr2 => libc::SIGUSR2,
            SignalName::Term => libc::SIGTERM,
            SignalName::Cont => libc::SIGCONT,
            SignalName::Stop => libc::SIGSTOP,
            SignalName::Tstp => libc::SIGTSTP,
            SignalName::Winch => libc::SIGWINCH,
        }
    }
}

impl fmt::Display for SignalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The message when a name is not one of [`SignalName::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown signal `{0}`; known: HUP, INT, QUIT, KILL, USR1, USR2, TERM, CONT, STOP, TSTP, WINCH"
)]
pub struct UnknownSignal(pub String);

impl FromStr for SignalName {
    type Err = UnknownSignal;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let upper = text.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        SignalName::ALL
            .into_iter()
            .find(|signal| &signal.as_str()[3..] == bare)
            .ok_or_else(|| UnknownSignal(text.to_string()))
    }
}

impl Serialize for SignalName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SignalName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
