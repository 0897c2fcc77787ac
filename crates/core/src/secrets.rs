//! Which names hold secrets: the one rule for config keys (`diff`'s
//! redaction, the wake message, `export kubernetes`) and the one for
//! environment variable names (`import`, `notify`'s environment, the wake
//! message). Pure.

/// Endings of a config key (folded: lower case, no `_` or `-`) that hold a
/// secret: `token`, `botToken`, `apiKey`, `OPENAI_API_KEY`, `clientSecret`,
/// `secretAccessKey`, `privateKey`, `apiKeys` ... An ending, not a part:
/// `maxTokens` is a number, `tokenFile` a path.
const SECRET_KEY_ENDINGS: [&str; 13] = [
    "token",
    "password",
    "passwd",
    "secret",
    "apikey",
    "apikeys",
    "accesskey",
    "privatekey",
    "credential",
    "credentials",
    "passphrase",
    "cookie",
    "cookies",
];

/// A key's name folded for comparison: lower case, no `_` or `-`.
pub fn folded(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a config key (or an environment variable read as one) holds a
/// secret value.
pub fn is_secret_key(key: &str) -> bool {
    let key = folded(key);
    SECRET_KEY_ENDINGS
        .iter()
        .any(|ending| key.ends_with(ending))
}

/// Whether an environment variable's name says it holds a secret: broader
/// than a config key (any part of it: `AWS_SECRET_ACCESS_KEY`,
/// `GH_TOKEN_FOR_CI`), since a variable is only named, never needed.
pub fn is_secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "KEY",
        "CREDENTIAL",
        "PRIVATE",
        "PASSPHRASE",
        "COOKIE",
    ]
    .iter()
    .any(|word| upper.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_told_by_their_ending_in_any_spelling() {
        let rows = [
            ("token", true),
            ("botToken", true),
            ("OPENAI_API_KEY", true),
            ("api-key", true),
            ("apiKeys", true),
            ("secretAccessKey", true),
            ("clientSecret", true),
            ("privateKey", true),
            ("credentials", true),
            ("sessionCookie", true),
            ("passwd", true),
            ("maxTokens", false),
            ("tokenFile", false),
            ("keyboard", false),
            ("port", false),
        ];
        for (key, secret) in rows {
            assert_eq!(is_secret_key(key), secret, "{key}");
        }
    }

    #[test]
    fn secret_variables_are_told_by_any_part_of_their_name() {
        let rows = [
            ("OPENCLAW_GATEWAY_TOKEN", true),
            ("AWS_SECRET_ACCESS_KEY", true),
            ("GH_TOKEN_FOR_CI", true),
            ("DB_PASSWD", true),
            ("PATH", false),
            ("HOME", false),
            ("NO_COLOR", false),
        ];
        for (name, secret) in rows {
            assert_eq!(is_secret_env_name(name), secret, "{name}");
        }
    }
}
