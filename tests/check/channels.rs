//! Channel credentials: a bot token two instances share is refused however
//! the gateway resolves it, and is never printed; one the supervisor cannot
//! read is a warning.

use std::path::{Path, PathBuf};

use crate::cli_support::Run;
use crate::{canonical, check, home};

/// The fake token of the channel tests: never in any output.
const FAKE_TOKEN: &str = "123456:FAKE-not-a-real-token";

fn assert_no_token(run: &Run) {
    for part in [FAKE_TOKEN, "123456", "FAKE-not", "real-token"] {
        assert!(
            !run.stdout.contains(part) && !run.stderr.contains(part),
            "`{part}` printed:\n{}{}",
            run.stdout,
            run.stderr
        );
    }
}

/// `root/sup` with main (state dir `root/state/main`, port 18789) and rescue
/// (profile rescue, `root/state/rescue`, 19789, then `rescue_extra`), their
/// OpenClaw configs `main_config` and `rescue_config`: the declarations dir.
fn main_and_rescue(
    root: &Path,
    rescue_extra: &str,
    main_config: &str,
    rescue_config: &str,
) -> PathBuf {
    for dir in ["sup", "state/main", "state/rescue"] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    let sup = root.join("sup");
    let declarations = [
        (
            "main",
            format!("state_dir: {}/state/main\nport: 18789\n", root.display()),
        ),
        (
            "rescue",
            format!(
                "profile: rescue\nstate_dir: {}/state/rescue\nport: 19789\n{rescue_extra}",
                root.display()
            ),
        ),
    ];
    for ((name, declaration), config) in declarations.iter().zip([main_config, rescue_config]) {
        std::fs::write(sup.join(format!("{name}.yaml")), declaration).expect("write");
        std::fs::write(root.join(format!("state/{name}/openclaw.json")), config).expect("write");
    }
    sup
}

#[test]
fn a_shared_bot_token_is_refused_by_every_way_the_gateway_resolves_it_and_never_printed() {
    // (main's config, rescue's config, rescue's declared env, rescue's state .env, where rescue takes it)
    let config = |telegram: &str| {
        format!("{{ gateway: {{ mode: 'local' }}, channels: {{ telegram: {telegram} }} }}")
    };
    let cases: &[(&str, String, String, &str, &str, &str)] = &[
        (
            "botToken in both",
            config(&format!("{{ botToken: '{FAKE_TOKEN}' }}")),
            config(&format!("{{ botToken: '{FAKE_TOKEN}' }}")),
            "",
            "",
            "channels.telegram.botToken in",
        ),
        (
            "tokenFile and env",
            config("{ tokenFile: 'bot.token', botToken: 'ignored:other' }"),
            config("{ dmPolicy: 'pairing' }"),
            "env:\n  TELEGRAM_BOT_TOKEN: \"123456:FAKE-not-a-real-token\"\n",
            "",
            "TELEGRAM_BOT_TOKEN in the gateway's environment",
        ),
        (
            "state dir .env",
            config(&format!("{{ botToken: '{FAKE_TOKEN}' }}")),
            config("{}"),
            "",
            "TELEGRAM_BOT_TOKEN=123456:FAKE-not-a-real-token\n",
            "TELEGRAM_BOT_TOKEN in the gateway's environment",
        ),
        (
            "env SecretRef and config env block",
            config(&format!("{{ botToken: '{FAKE_TOKEN}' }}")),
            format!(
                "{{ env: {{ vars: {{ TG: '{FAKE_TOKEN}' }} }}, channels: {{ telegram: {{ botToken: {{ source: 'env', provider: 'default', id: 'TG' }} }} }} }}"
            ),
            "",
            "",
            "channels.telegram.botToken in",
        ),
        (
            "named account",
            config(&format!("{{ botToken: '{FAKE_TOKEN}' }}")),
            config(&format!(
                "{{ accounts: {{ ops: {{ botToken: '{FAKE_TOKEN}' }} }} }}"
            )),
            "",
            "",
            "channels.telegram.accounts.ops.botToken in",
        ),
    ];
    for (case, main_config, rescue_config, rescue_env, dotenv, rescue_source) in cases {
        let home = home();
        let root = std::path::PathBuf::from(canonical(home.path()));
        let sup = main_and_rescue(
            &root,
            &format!("role: rescue\nrescue_of: main\n{rescue_env}"),
            main_config,
            rescue_config,
        );
        std::fs::write(root.join("state/main/bot.token"), format!("{FAKE_TOKEN}\n"))
            .expect("write");
        if !dotenv.is_empty() {
            std::fs::write(root.join("state/rescue/.env"), dotenv).expect("write");
        }
        let dir = sup.to_str().expect("utf-8 path");
        let run = check(home.path(), &[dir], &[]);
        assert_eq!(run.code, 1, "{case}: {}{}", run.stdout, run.stderr);
        assert_no_token(&run);
        assert!(
            run.stdout
                .contains("conflict: telegram bot token: main's account `default`"),
            "{case}: {}",
            run.stdout
        );
        assert!(run.stdout.contains(rescue_source), "{case}: {}", run.stdout);
        assert!(
            run.stdout.contains("INSTANCE  CHANNEL   ACCOUNT  CREDENTIAL  COMPARED  FROM\nmain      telegram  default  bot token   yes       "),
            "{case}: {}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("fix: create a second bot for rescue with BotFather"),
            "{case}: {}",
            run.stdout
        );

        let run = check(home.path(), &[dir, "--json"], &[]);
        assert_eq!(run.code, 1, "{case}: {}{}", run.stdout, run.stderr);
        assert_no_token(&run);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
        assert_eq!(
            report["problems"][0]["resource"], "channel_credential",
            "{case}"
        );
        assert_eq!(
            report["problems"][0]["instances"],
            serde_json::json!(["main", "rescue"])
        );
        assert_eq!(report["instances"][0]["channels"][0]["channel"], "telegram");
        assert_eq!(report["instances"][0]["channels"][0]["checked"], true);
    }
}

#[test]
fn a_secret_ref_or_an_unreadable_token_file_is_not_checked_but_a_warning() {
    let home = home();
    let root = std::path::PathBuf::from(canonical(home.path()));
    main_and_rescue(
        &root,
        "",
        "{ gateway: { mode: 'local' }, channels: { telegram: { botToken: { source: 'file', provider: 'vault', id: '/telegram' } } } }",
        "{ gateway: { mode: 'local' }, channels: { telegram: { tokenFile: 'missing.token' } } }",
    );
    let run = check(
        home.path(),
        &[root.join("sup").to_str().expect("utf-8")],
        &[("TG", FAKE_TOKEN)],
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_no_token(&run);
    for words in [
        "warning: main: telegram account `default`: the bot token from channels.telegram.botToken in",
        "is not checked against the other instances: it is a SecretRef the supervisor does not resolve",
        "warning: rescue: telegram account `default`: the bot token from channels.telegram.tokenFile in",
        "is not checked against the other instances: the supervisor cannot read it",
    ] {
        assert!(
            run.stdout.contains(words),
            "`{words}` not in:\n{}",
            run.stdout
        );
    }
}
