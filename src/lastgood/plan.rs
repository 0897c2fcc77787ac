//! The decisions of last known good, pure: what a new record keeps and
//! prunes, whether a rollback may go ahead, whether an exit 78 rolls back
//! on its own, and the name the rejected config is kept under.

use std::time::SystemTime;

use sha2::Digest as _;

/// Generations kept per instance.
pub const KEEP: usize = 3;

/// The SHA-256 of `bytes`, in hex: how generations and configs are compared.
pub fn digest(bytes: &[u8]) -> String {
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What is known of one stored generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationInfo {
    /// Its directory name (sortable: older sorts first).
    pub id: String,
    pub config_digest: String,
    pub declaration_digest: String,
}

/// What recording a new good run does to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPlan {
    /// False when the newest generation is already this one.
    pub store: bool,
    /// Generations to remove: an older identical copy (the new one takes its
    /// place as the newest) and those beyond [`KEEP`].
    pub prune: Vec<String>,
}

/// `existing` oldest first; the new generation has the digests given.
pub fn plan_record(
    existing: &[GenerationInfo],
    config_digest: &str,
    declaration_digest: &str,
) -> RecordPlan {
    let same = |info: &GenerationInfo| {
        info.config_digest == config_digest && info.declaration_digest == declaration_digest
    };
    if existing.last().is_some_and(same) {
        return RecordPlan {
            store: false,
            prune: Vec::new(),
        };
    }
    let kept: Vec<&GenerationInfo> = existing.iter().filter(|info| !same(info)).collect();
    let mut prune: Vec<String> = existing
        .iter()
        .filter(|info| same(info))
        .map(|info| info.id.clone())
        .collect();
    // With the new one, KEEP in all.
    let over = (kept.len() + 1).saturating_sub(KEEP);
    prune.extend(kept.iter().take(over).map(|info| info.id.clone()));
    RecordPlan { store: true, prune }
}

/// Why a rollback does not go ahead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{name} has no last known good config yet (one is kept once it passes its startup)")]
    NoLastGood { name: String },
    #[error("{name}'s config has not changed since the last good (at {at}): nothing to roll back")]
    Unchanged { name: String, at: String },
}

/// Whether the config now on disk may be replaced by the last good one.
pub fn plan_rollback(
    name: &str,
    current_digest: Option<&str>,
    last_good: Option<(&str, &str)>,
) -> Result<(), Refusal> {
    let Some((good_digest, good_at)) = last_good else {
        return Err(Refusal::NoLastGood {
            name: name.to_string(),
        });
    };
    if current_digest == Some(good_digest) {
        return Err(Refusal::Unchanged {
            name: name.to_string(),
            at: good_at.to_string(),
        });
    }
    Ok(())
}

/// What an instance's failure means for `rollback: auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoDecision {
    RollBack,
    Not(NotWhy),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotWhy {
    /// `rollback: manual`.
    Manual,
    /// Not an exit 78: the config is not to blame.
    NotConfigError,
    NoLastGood,
    /// The gateway ran the last good config (or its config was unreadable).
    ConfigUnchanged,
    /// Once already since the last good was recorded.
    AlreadyRolledBack,
}

impl NotWhy {
    pub fn words(self) -> &'static str {
        match self {
            NotWhy::Manual => "rollback is manual",
            NotWhy::NotConfigError => "not a configuration error",
            NotWhy::NoLastGood => "no last known good yet",
            NotWhy::ConfigUnchanged => "it ran the last good config",
            NotWhy::AlreadyRolledBack => "already rolled back once since the last good",
        }
    }
}

/// The facts [`auto_decision`] decides on.
#[derive(Debug, Clone, Copy)]
pub struct AutoFacts<'a> {
    pub auto: bool,
    pub config_error: bool,
    /// The digest of the config bytes the failed gateway was spawned with.
    pub spawned_digest: Option<&'a str>,
    pub last_good_digest: Option<&'a str>,
    pub already_rolled_back: bool,
}

/// An exit 78 right after the config changed (the config the gateway was
/// spawned with is not the last good one) rolls back, once until a new
/// good is recorded.
pub fn auto_decision(facts: AutoFacts<'_>) -> AutoDecision {
    let not = AutoDecision::Not;
    if !facts.auto {
        return not(NotWhy::Manual);
    }
    if !facts.config_error {
        return not(NotWhy::NotConfigError);
    }
    let Some(good) = facts.last_good_digest else {
        return not(NotWhy::NoLastGood);
    };
    match facts.spawned_digest {
        Some(spawned) if spawned != good => {}
        _ => return not(NotWhy::ConfigUnchanged),
    }
    if facts.already_rolled_back {
        return not(NotWhy::AlreadyRolledBack);
    }
    AutoDecision::RollBack
}

/// The name the replaced config is kept under, beside it:
/// `<file name>.<UTC yyyymmddThhmmssZ>.rejected`.
pub fn rejected_name(file_name: &str, at: SystemTime) -> String {
    format!("{file_name}.{}.rejected", compact_utc(at))
}

/// `20261204T223000Z`.
pub fn compact_utc(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace(['-', ':'], "")
}

/// A generation's directory name: its time in Unix ms, zero-padded, so
/// names sort as times do.
pub fn generation_id(at_ms: u64) -> String {
    format!("{at_ms:016}")
}
