use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, UNIX_EPOCH};

use super::diff::{self, DiffInput, is_secret_key, redacted_diff};
use super::plan::*;
use super::{Error, Store, rollback};

fn info(id: &str, config: &str, declaration: &str) -> GenerationInfo {
    GenerationInfo {
        id: id.to_string(),
        config_digest: config.to_string(),
        declaration_digest: declaration.to_string(),
    }
}

#[test]
fn a_record_keeps_three_generations_and_never_one_twice() {
    // (existing as (id, config, declaration), new (config, declaration),
    //  stored?, pruned)
    type Row = (
        &'static [(&'static str, &'static str, &'static str)],
        (&'static str, &'static str),
        bool,
        &'static [&'static str],
    );
    let rows: &[Row] = &[
        (&[], ("a", "d"), true, &[]),
        (&[("1", "a", "d")], ("a", "d"), false, &[]),
        (&[("1", "a", "d")], ("b", "d"), true, &[]),
        // The declaration alone changed: a new generation.
        (&[("1", "a", "d")], ("a", "e"), true, &[]),
        (&[("1", "a", "d"), ("2", "b", "d")], ("c", "d"), true, &[]),
        (
            &[("1", "a", "d"), ("2", "b", "d"), ("3", "c", "d")],
            ("x", "d"),
            true,
            &["1"],
        ),
        // Back to an older good one: it moves to the front, not twice.
        (
            &[("1", "a", "d"), ("2", "b", "d"), ("3", "c", "d")],
            ("a", "d"),
            true,
            &["1"],
        ),
        (
            &[("1", "a", "d"), ("2", "b", "d"), ("3", "c", "d")],
            ("b", "d"),
            true,
            &["2"],
        ),
        (
            &[("1", "a", "d"), ("2", "b", "d"), ("3", "c", "d")],
            ("c", "d"),
            false,
            &[],
        ),
    ];
    for (existing, (config, declaration), store, prune) in rows {
        let existing: Vec<GenerationInfo> =
            existing.iter().map(|(i, c, d)| info(i, c, d)).collect();
        let plan = plan_record(&existing, config, declaration);
        assert_eq!(plan.store, *store, "{existing:?} + {config}/{declaration}");
        assert_eq!(plan.prune, *prune, "{existing:?} + {config}/{declaration}");
    }
}

#[test]
fn rollback_auto_rolls_back_an_exit_78_after_a_config_change_once() {
    use AutoDecision::*;
    // (auto, exit 78, spawned, last good, already) -> decision
    let rows = [
        (true, true, Some("new"), Some("good"), false, RollBack),
        (
            false,
            true,
            Some("new"),
            Some("good"),
            false,
            Not(NotWhy::Manual),
        ),
        (
            true,
            false,
            Some("new"),
            Some("good"),
            false,
            Not(NotWhy::NotConfigError),
        ),
        (
            true,
            true,
            Some("new"),
            None,
            false,
            Not(NotWhy::NoLastGood),
        ),
        (
            true,
            true,
            Some("good"),
            Some("good"),
            false,
            Not(NotWhy::ConfigUnchanged),
        ),
        (
            true,
            true,
            None,
            Some("good"),
            false,
            Not(NotWhy::ConfigUnchanged),
        ),
        (
            true,
            true,
            Some("new"),
            Some("good"),
            true,
            Not(NotWhy::AlreadyRolledBack),
        ),
    ];
    for (auto, config_error, spawned, good, already, expected) in rows {
        let facts = AutoFacts {
            auto,
            config_error,
            spawned_digest: spawned,
            last_good_digest: good,
            already_rolled_back: already,
        };
        assert_eq!(auto_decision(facts), expected, "{facts:?}");
    }
}

#[test]
fn a_rollback_is_refused_without_a_last_good_or_a_change() {
    assert_eq!(
        plan_rollback("main", Some("a"), None),
        Err(Refusal::NoLastGood {
            name: "main".into()
        })
    );
    let refused = plan_rollback("main", Some("a"), Some(("a", "T"))).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("has not changed since the last good (at T)")
    );
    assert_eq!(plan_rollback("main", Some("b"), Some(("a", "T"))), Ok(()));
    // No config at all: the good one goes back.
    assert_eq!(plan_rollback("main", None, Some(("a", "T"))), Ok(()));
}

#[test]
fn the_rejected_config_is_named_with_the_utc_time() {
    let at = UNIX_EPOCH + Duration::from_secs(1_796_423_400);
    assert_eq!(
        rejected_name("openclaw.json", at),
        "openclaw.json.20261204T223000Z.rejected"
    );
    assert_eq!(generation_id(12), "0000000000000012");
}

#[test]
fn secret_keys_are_told_by_their_name() {
    for key in [
        "token",
        "botToken",
        "appToken",
        "password",
        "apiKey",
        "OPENAI_API_KEY",
        "clientSecret",
        "signing-secret",
        "privateKey",
    ] {
        assert!(is_secret_key(key), "{key}");
    }
    for key in [
        "tokenFile",
        "maxTokens",
        "mode",
        "port",
        "workspace",
        "secretsFile",
    ] {
        assert!(!is_secret_key(key), "{key}");
    }
}

const GOOD: &str = r#"{
  gateway: {
    port: 18789,
    auth: { mode: "token", token: "tok-main" },
    auth2: {
      "token": "tok-same",
      password: 'pw-1',
    },
  },
}
"#;

#[test]
fn the_diff_shows_the_change_and_never_a_secret() {
    let current = GOOD
        .replace("18789", "18790")
        .replace("'pw-1'", "'pw-2'")
        .replace("}\n}\n", "},\n  bogusKey: true,\n}\n");
    let text = redacted_diff(GOOD, &current, "good", "now");
    for secret in ["tok-main", "tok-same", "pw-1", "pw-2"] {
        assert!(!text.contains(secret), "{secret} in\n{text}");
    }
    assert!(text.contains("-    port: 18789,"), "{text}");
    assert!(text.contains("+    port: 18790,"), "{text}");
    assert!(text.contains("-      password: <redacted>,"), "{text}");
    assert!(
        text.contains("+      password: <redacted, changed>,"),
        "{text}"
    );
    // An unchanged secret is not a change.
    assert!(!text.contains("+      \"token\": <redacted"), "{text}");
    assert!(text.starts_with("--- good\n+++ now\n"), "{text}");
    assert_eq!(redacted_diff(GOOD, GOOD, "a", "b"), "");
    // Inside a one-line object, and a YAML value with a comma in it.
    let inline = redacted_diff(GOOD, &GOOD.replace("tok-main", "tok-new"), "a", "b");
    assert!(
        inline.contains(r#"+    auth: { mode: "token", token: <redacted, changed> },"#),
        "{inline}"
    );
    let yaml = redacted_diff(
        "env:\n  OPENAI_API_KEY: sk-1,2\n",
        "env:\n  OPENAI_API_KEY: sk-3,4\n",
        "a",
        "b",
    );
    assert!(
        yaml.contains("+  OPENAI_API_KEY: <redacted, changed>\n"),
        "{yaml}"
    );
    assert!(!yaml.contains("sk-"), "{yaml}");
}

#[test]
fn the_diff_says_when_nothing_changed_and_when_there_is_a_change() {
    let input = DiffInput {
        name: "main",
        good_at: "2026-12-04T22:30:00Z",
        good_config: "{ a: 1 }\n",
        good_declaration: "name: main\n",
        current_config: Some("{ a: 1 }\n"),
        current_declaration: "name: main\n",
        config_path: "/c/openclaw.json",
    };
    assert!(
        diff::render(&input).starts_with("no change since the last good (at 2026-12-04T22:30:00Z)")
    );
    let changed = DiffInput {
        current_config: Some("{ a: 2 }\n"),
        ..input.clone()
    };
    let text = diff::render(&changed);
    assert!(text.contains("-{ a: 1 }\n+{ a: 2 }\n"), "{text}");
    assert!(!text.contains("declaration of main"), "{text}");
    let unreadable = DiffInput {
        current_config: None,
        ..input
    };
    assert!(diff::render(&unreadable).contains("/c/openclaw.json cannot be read now"));
}

#[test]
fn a_store_keeps_private_generations_and_rolls_back_atomically() {
    let temp = tempfile::tempdir().unwrap();
    let store = Store::of(temp.path(), "main");
    let config_path = temp.path().join("openclaw.json");
    std::fs::write(&config_path, b"{ broken: 1 }").unwrap();
    std::fs::set_permissions(&config_path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_796_423_400);
    match rollback(&store, "main", &config_path, now) {
        Err(Error::Refused(Refusal::NoLastGood { .. })) => {}
        other => panic!("{other:?}"),
    }
    assert!(store.record(b"{ good: 1 }", "name: main\n", now).unwrap());
    assert!(!store.record(b"{ good: 1 }", "name: main\n", now).unwrap());
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(store.dir()), 0o700);
    let newest = store.newest().unwrap().unwrap();
    assert_eq!(newest.config, b"{ good: 1 }");
    assert_eq!(mode(&store.dir().join(&newest.info.id)), 0o700);
    assert_eq!(
        mode(&store.dir().join(&newest.info.id).join("openclaw.json")),
        0o600
    );
    for n in 2..6 {
        store
            .record(format!("{{ good: {n} }}").as_bytes(), "name: main\n", now)
            .unwrap();
    }
    assert_eq!(std::fs::read_dir(store.dir()).unwrap().count(), KEEP);

    let done = rollback(&store, "main", &config_path, now).unwrap();
    assert_eq!(std::fs::read(&config_path).unwrap(), b"{ good: 5 }");
    assert_eq!(mode(&config_path), 0o640, "the config keeps its mode");
    let rejected = done.rejected.clone().unwrap();
    assert_eq!(
        rejected,
        temp.path().join("openclaw.json.20261204T223000Z.rejected")
    );
    assert_eq!(std::fs::read(&rejected).unwrap(), b"{ broken: 1 }");
    assert_eq!(mode(&rejected), 0o600);
    assert!(done.detail(&config_path, "by operator").ends_with(&format!(
        "; the replaced one is kept as {}",
        rejected.display()
    )));
    match rollback(&store, "main", &config_path, now) {
        Err(Error::Refused(Refusal::Unchanged { .. })) => {}
        other => panic!("{other:?}"),
    }
    // No config at all: the good one comes back, nothing is kept.
    std::fs::remove_file(&config_path).unwrap();
    let done = rollback(&store, "main", &config_path, now).unwrap();
    assert_eq!(done.rejected, None);
    assert!(
        done.detail(&config_path, "by operator")
            .ends_with("; there was no config to keep")
    );
    assert_eq!(std::fs::read(&config_path).unwrap(), b"{ good: 5 }");
    assert_eq!(mode(&config_path), 0o600);
    // No temp file is left beside the config.
    let names: Vec<String> = std::fs::read_dir(temp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn a_rollback_writes_through_a_symlinked_config_to_its_target() {
    let temp = tempfile::tempdir().unwrap();
    let store = Store::of(&temp.path().join("state"), "main");
    let dotfiles = temp.path().join("dotfiles");
    let home = temp.path().join("home");
    std::fs::create_dir_all(&dotfiles).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let target = dotfiles.join("openclaw.json");
    let link = home.join("openclaw.json");
    std::fs::write(&target, b"{ broken: 1 }").unwrap();
    std::os::unix::fs::symlink("../dotfiles/openclaw.json", &link).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(1_796_423_400);
    store.record(b"{ good: 1 }", "name: main\n", now).unwrap();

    let done = rollback(&store, "main", &link, now).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is kept"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"{ good: 1 }");
    // The replaced one is kept beside the path the declaration names.
    let rejected = done.rejected.unwrap();
    assert_eq!(rejected.parent(), Some(home.as_path()));
    assert_eq!(std::fs::read(&rejected).unwrap(), b"{ broken: 1 }");

    // A dangling link: its target is created, the link stays.
    std::fs::remove_file(&target).unwrap();
    rollback(&store, "main", &link, now).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"{ good: 1 }");
}
