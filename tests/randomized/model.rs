//! The model: what each of the four instances should be (its file, a copy,
//! a move, the operator's stop) and the operations a step may apply.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum File {
    Absent,
    Valid(u32),
    /// A broken file; the variant this supervisor last accepted, if any.
    Broken(Option<u32>),
}

#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub(crate) name: &'static str,
    pub(crate) port: u16,
    pub(crate) file: File,
    /// The file was moved to `<name>-moved.yaml` (with `name: <name>`).
    pub(crate) moved: bool,
    /// A copy `copy-of-<name>.yaml` (`name: <name>`) with this variant.
    pub(crate) copy: Option<u32>,
    /// The pid that must not change while a copy sits beside a running
    /// instance (what runs keeps running).
    pub(crate) protected_pid: Option<i32>,
    /// Stopped by the operator (kept across supervisor restarts).
    pub(crate) stopped: bool,
    /// Both its file and a copy were there when the supervisor started:
    /// which one wins is not promised, only that at most one runs.
    pub(crate) ambiguous: bool,
}

impl Slot {
    pub(crate) fn file_name(&self) -> String {
        if self.moved {
            format!("{}-moved.yaml", self.name)
        } else {
            format!("{}.yaml", self.name)
        }
    }

    pub(crate) fn copy_name(&self) -> String {
        format!("copy-of-{}.yaml", self.name)
    }

    /// The variant the supervisor should be running, if any declaration
    /// of this instance stands.
    pub(crate) fn declared(&self) -> Option<u32> {
        match self.file {
            File::Valid(variant) => Some(variant),
            File::Broken(last_good) => last_good,
            File::Absent => self.copy,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Add(usize),
    Edit(usize),
    Break(usize),
    Duplicate(usize),
    RemoveCopy(usize),
    Move(usize),
    Remove(usize),
    KillGateway(usize),
    KillSupervisor,
    Stop(usize),
    Start(usize),
    Restart(usize),
    Reload,
}
