//! Secrets read from an OpenClaw config or a gateway's environment, kept
//! only as keyed fingerprints: SHA-256 over a per-process random key, then
//! the secret. The secret itself is dropped once fingerprinted; Debug and
//! Display redact, and the fingerprint is never printed nor serialized, so no
//! token (nor any prefix of one) reaches check output, status, events or logs.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// A secret, known only by its keyed fingerprint.
#[derive(Clone, Eq)]
pub struct Secret {
    fingerprint: [u8; 32],
}

impl Secret {
    /// Fingerprint `value` (as the gateway compares it: trimmed).
    pub fn new(value: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(process_key());
        hasher.update(value.trim().as_bytes());
        Self {
            fingerprint: hasher.finalize().into(),
        }
    }
}

impl PartialEq for Secret {
    /// Compares every byte whatever the first difference.
    fn eq(&self, other: &Self) -> bool {
        self.fingerprint
            .iter()
            .zip(other.fingerprint.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A token as far as the supervisor can tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Token {
    /// Not set anywhere the gateway reads it.
    #[default]
    Unset,
    /// A plain value; `source` is the config key or the variable it came from.
    Set { source: String, secret: Secret },
    /// Set in a form the supervisor does not read (a SecretRef object, a
    /// value that is not a string): never treated as sound nor as equal.
    NotChecked { source: String, reason: String },
}

impl Token {
    /// A plain value from `source`; an empty (or blank) one is unset, as
    /// the gateway trims it.
    pub fn plain(source: &str, value: &str) -> Self {
        if value.trim().is_empty() {
            Token::Unset
        } else {
            Token::Set {
                source: source.to_string(),
                secret: Secret::new(value),
            }
        }
    }

    /// Where a set token came from (`gateway.auth.token`, ...).
    pub fn source(&self) -> Option<&str> {
        match self {
            Token::Unset => None,
            Token::Set { source, .. } | Token::NotChecked { source, .. } => Some(source),
        }
    }
}

/// The per-process key: 32 bytes from the kernel's random source, else
/// (should that fail) from `fastrand`, which is seeded per process too.
fn process_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| random_bytes().unwrap_or_else(|_| std::array::from_fn(|_| fastrand::u8(..))))
}

/// 32 bytes from the kernel's random source (for keys and generated tokens).
pub fn random_bytes() -> std::io::Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut bytes))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_secrets_compare_equal_and_nothing_shows() {
        let token = "tok-0123456789abcdef";
        assert_eq!(Secret::new(token), Secret::new(&format!(" {token}\n")));
        assert_ne!(Secret::new(token), Secret::new("tok-0123456789abcdeg"));
        for shown in [
            format!("{:?}", Secret::new(token)),
            Secret::new(token).to_string(),
        ] {
            assert!(!shown.contains("tok"), "{shown}");
        }
    }
}
