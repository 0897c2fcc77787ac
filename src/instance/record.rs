//! What became of an instance's gateway when this supervisor started
//! (`Adoption`), and a kept gateway to take over (`Adopted`). The pid
//! record itself is `crate::records`.

use std::time::SystemTime;

pub use crate::records::{KeeperRecord, PidRecord, pid_record_path};

/// A kept gateway of an earlier supervisor, connected to and checked
/// against its record, for its instance's actor to take over.
#[derive(Debug)]
pub struct Adopted {
    pub kept: crate::keeper::link::Kept,
    pub record: PidRecord,
}

/// What became of an instance's gateway when this supervisor started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adoption {
    /// Its gateway was taken over (at).
    Adopted { at: SystemTime, pid: i32 },
    /// No record of a gateway: it was started anew.
    NoRecord,
    /// A record that did not name a kept gateway of ours (why): whatever it
    /// named was stopped and the gateway started anew.
    DidNotMatch(String),
}
