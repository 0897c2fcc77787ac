//! `stop.signal`: the signal a graceful stop starts with, parsed once when
//! the declaration is read.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::protocol::SignalName;

/// The signal a graceful stop starts with: SIGTERM (the default), SIGINT,
/// SIGQUIT or SIGHUP. Written `SIGTERM`, `TERM` or `term` (spaces around
/// are ignored); always stored and written back as `SIGTERM`. Nothing else
/// can be one, so whoever holds a `StopSignal` sends it without a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StopSignal(SignalName);

impl StopSignal {
    pub const TERM: StopSignal = StopSignal(SignalName::Term);
    pub const INT: StopSignal = StopSignal(SignalName::Int);
    pub const QUIT: StopSignal = StopSignal(SignalName::Quit);
    pub const HUP: StopSignal = StopSignal(SignalName::Hup);

    /// Every stop signal, the default first.
    pub const ALL: [StopSignal; 4] = [
        StopSignal::TERM,
        StopSignal::INT,
        StopSignal::QUIT,
        StopSignal::HUP,
    ];

    /// The signal, as the wire names it (its number through
    /// [`SignalName::number`]).
    pub fn name(self) -> SignalName {
        self.0
    }

    /// The canonical spelling, e.g. `SIGTERM`.
    pub fn as_str(self) -> &'static str {
        self.0.as_str()
    }
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal::TERM
    }
}

impl From<StopSignal> for SignalName {
    fn from(signal: StopSignal) -> Self {
        signal.0
    }
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `stop.signal` that cannot start a graceful stop: what was written and
/// why (a signal that cannot, or not a signal at all).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{written}` cannot be the stop signal: {}; use one of SIGTERM, SIGINT, SIGQUIT, SIGHUP", self.why())]
pub struct NotAStopSignal {
    pub written: String,
    /// The signal it names, when it names one.
    pub signal: Option<SignalName>,
}

impl NotAStopSignal {
    fn why(&self) -> &'static str {
        match self.signal {
            Some(SignalName::Kill) => {
                "SIGKILL cannot be caught, and the gateway counts it as an unclean boot (the supervisor sends it only after `stop.timeout`)"
            }
            Some(SignalName::Usr1) => {
                "SIGUSR1 starts Node's inspector; it does not stop the gateway"
            }
            Some(SignalName::Usr2) => "SIGUSR2 asks the gateway to restart; it does not stop it",
            _ => "it is not a signal that stops the gateway gracefully",
        }
    }
}

impl FromStr for StopSignal {
    type Err = NotAStopSignal;

    /// Any case, with or without `SIG`, spaces around ignored; no numbers.
    fn from_str(written: &str) -> Result<Self, Self::Err> {
        let signal = written.parse::<SignalName>().ok();
        StopSignal::ALL
            .into_iter()
            .find(|stop| Some(stop.0) == signal)
            .ok_or_else(|| NotAStopSignal {
                written: written.to_string(),
                signal,
            })
    }
}

impl Serialize for StopSignal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for StopSignal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_stop_signal_and_nothing_else() {
        let rows: &[(&str, Option<StopSignal>)] = &[
            ("SIGTERM", Some(StopSignal::TERM)),
            ("TERM", Some(StopSignal::TERM)),
            ("term", Some(StopSignal::TERM)),
            ("SigTerm", Some(StopSignal::TERM)),
            (" sigterm ", Some(StopSignal::TERM)),
            ("SIGINT", Some(StopSignal::INT)),
            ("int", Some(StopSignal::INT)),
            ("SIGQUIT", Some(StopSignal::QUIT)),
            ("Quit", Some(StopSignal::QUIT)),
            ("SIGHUP", Some(StopSignal::HUP)),
            ("hup", Some(StopSignal::HUP)),
            ("SIGKILL", None),
            ("kill", None),
            ("SIGUSR1", None),
            ("USR2", None),
            ("SIGSTOP", None),
            ("CONT", None),
            ("WINCH", None),
            ("SIGWHAT", None),
            ("15", None),
            ("SIG15", None),
            ("SIGSIGTERM", None),
            ("SIG", None),
            ("", None),
            ("TE RM", None),
        ];
        for (written, expected) in rows {
            assert_eq!(written.parse::<StopSignal>().ok(), *expected, "{written:?}");
        }
        for signal in StopSignal::ALL {
            assert_eq!(signal.as_str().parse::<StopSignal>(), Ok(signal));
        }
    }

    #[test]
    fn a_refusal_says_why_and_what_to_use() {
        let rows: &[(&str, &str)] = &[
            ("KILL", "unclean boot"),
            ("sigusr1", "inspector"),
            ("USR2", "restart"),
            ("SIGWHAT", "not a signal that stops the gateway"),
            ("15", "not a signal that stops the gateway"),
        ];
        for (written, words) in rows {
            let message = written
                .parse::<StopSignal>()
                .expect_err(written)
                .to_string();
            assert!(message.starts_with(&format!("`{written}` cannot be the stop signal: ")));
            assert!(message.contains(words), "{message}");
            assert!(
                message.ends_with("use one of SIGTERM, SIGINT, SIGQUIT, SIGHUP"),
                "{message}"
            );
        }
    }

    #[test]
    fn written_back_canonically() {
        for (signal, text) in [
            (StopSignal::TERM, "\"SIGTERM\""),
            (StopSignal::INT, "\"SIGINT\""),
            (StopSignal::QUIT, "\"SIGQUIT\""),
            (StopSignal::HUP, "\"SIGHUP\""),
        ] {
            assert_eq!(serde_json::to_string(&signal).ok().as_deref(), Some(text));
            assert_eq!(serde_json::from_str::<StopSignal>(text).ok(), Some(signal));
        }
        assert_eq!(
            serde_json::from_str::<StopSignal>("\"quit\"").ok(),
            Some(StopSignal::QUIT)
        );
        assert!(serde_json::from_str::<StopSignal>("\"SIGKILL\"").is_err());
        assert_eq!(StopSignal::default(), StopSignal::TERM);
    }
}
