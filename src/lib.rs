//! openclaw-supervisor: runs several OpenClaw gateways on one host, side by
//! side and isolated. See ARCHITECTURE.md for the code map and invariants.

pub mod breaker;
pub mod cgroup;
pub mod control;
pub mod daemon;
pub mod declaration;
pub mod init;
pub mod instance;
pub mod isolation;
pub mod journal;
pub mod lastgood;
pub mod lifecycle;
pub mod limits;
pub mod logs;
pub mod memory_guard;
pub mod metrics;
pub mod openclaw;
pub mod probe;
pub mod prober;
pub mod process;
pub mod protocol;
pub mod rescue;
pub mod resolution;
pub mod sdnotify;
pub mod service;
pub mod signals;
pub mod simulator;
pub mod skill;
pub mod supervisor;
pub mod unit;
pub mod usage;
pub mod validator;
pub mod vendor;
pub mod watch;
