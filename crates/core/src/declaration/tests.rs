use std::collections::BTreeMap;
use std::path::Path;

use super::*;

mod load;
mod notify;
mod resources;

fn parse_text(file: &str, text: &str) -> Result<LoadedDeclaration, DeclarationError> {
    parse(Path::new(file), text)
}

#[test]
fn a_full_declaration_parses_with_its_values() {
    let text = "\
profile: rescue
port: 19789
bind: loopback
command: /opt/openclaw/bin/openclaw
args: [--verbose]
config: ~/.openclaw-rescue/openclaw.json
state_dir: ~/.openclaw-rescue
workspace: ~/.openclaw-rescue/workspace
tmpdir: /var/tmp/rescue
env: { OPENCLAW_LOG_LEVEL: info }
role: rescue
rescue_of: Main
standby: true
wake: agent
restart: { policy: on-failure, backoff: { initial: 2s, max: 5m }, reset_after: 10m }
stop: { signal: term, timeout: 90s }
probes:
  startup: { http: /startupz, timeout: 120s }
  liveness: { http: /healthz, every: 10s, timeout: 2s, failures: 3 }
  readiness: { http: /readyz, every: 10s, json: { ready: 'true' } }
logs: { max_size: 20MiB, keep: 3 }
";
    let loaded = parse_text("/etc/sup/rescue.yaml", text).expect("valid declaration");
    let decl = &loaded.declaration;
    assert_eq!(loaded.name, "rescue");
    assert_eq!(decl.port, Some(19789));
    assert_eq!(decl.role, Role::Rescue);
    // Names are stored lowercase, so the reference to one is too.
    assert_eq!(decl.rescue_of.as_deref(), Some("main"));
    assert_eq!(decl.wake, Some(WakeEndpoint::Agent));
    assert_eq!(decl.restart.policy, RestartPolicy::OnFailure);
    assert_eq!(decl.restart.backoff.initial, HumanDuration::from_secs(2));
    assert_eq!(decl.restart.reset_after, HumanDuration::from_secs(600));
    // The stop signal is brought to its canonical spelling.
    assert_eq!(decl.stop.signal.as_str(), "SIGTERM");
    assert_eq!(decl.stop.timeout, HumanDuration::from_secs(90));
    assert_eq!(decl.probes.liveness.failures, Some(3));
    assert_eq!(decl.logs.max_size, bytesize::ByteSize::mib(20));
    assert_eq!(
        decl.config.as_deref(),
        Some(Path::new("~/.openclaw-rescue/openclaw.json"))
    );
}

#[test]
fn an_empty_file_is_a_declaration_with_every_default() {
    let loaded = parse_text("main.yaml", "# nothing set\n").expect("empty is valid");
    assert_eq!(loaded.name, "main");
    assert_eq!(loaded.declaration, Declaration::default());
    assert_eq!(loaded.declaration.stop.signal.as_str(), "SIGTERM");
    assert_eq!(loaded.declaration.restart.policy, RestartPolicy::Always);
    // The probes come worked out with the declaration: the defaults here.
    assert_eq!(loaded.probes, crate::probe::EffectiveProbes::default());
}

#[test]
fn instance_names_come_from_the_name_key_or_the_file_stem() {
    let rows: &[(&str, &str, Result<&str, &str>)] = &[
        ("main.yaml", "", Ok("main")),
        ("dir/rescue-2.yml", "", Ok("rescue-2")),
        ("Main.yaml", "", Ok("main")),
        ("whatever.yaml", "name: Work_1\n", Ok("work_1")),
        ("main.prod.yaml", "", Err("the file name `main.prod`")),
        ("-x.yaml", "", Err("not a valid instance name")),
        (
            "ok.yaml",
            "name: 'bad name'\n",
            Err("`bad name` is not a valid"),
        ),
    ];
    for (file, text, expected) in rows {
        let result = parse_text(file, text);
        match (expected, result) {
            (Ok(name), Ok(loaded)) => assert_eq!(loaded.name, *name, "{file}"),
            (Err(words), Err(err)) => {
                assert!(err.to_string().contains(words), "{file}: {err}")
            }
            (expected, got) => panic!("{file}: expected {expected:?}, got {got:?}"),
        }
    }
    let long = format!("name: a{}\n", "b".repeat(64));
    assert!(parse_text("x.yaml", &long).is_err(), "65 characters");
    let longest = format!("name: a{}\n", "b".repeat(63));
    assert!(parse_text("x.yaml", &longest).is_ok(), "64 characters");
}

/// (text, line, column, key, words in the message)
type ErrorRow = (
    &'static str,
    Option<u64>,
    Option<u64>,
    Option<&'static str>,
    &'static str,
);

#[test]
fn errors_name_the_line_the_column_and_the_key() {
    let rows: &[ErrorRow] = &[
        (
            "port: 1\nbogus: 1\n",
            Some(2),
            Some(1),
            Some("bogus"),
            "unknown key `bogus`: the keys here are `name`, `profile`, `port`",
        ),
        (
            "stop:\n  timeout: 10x\n",
            Some(2),
            Some(12),
            Some("stop.timeout"),
            "invalid duration `10x`",
        ),
        (
            "restart: { backoff: { initial: soon } }\n",
            Some(1),
            Some(32),
            Some("restart.backoff.initial"),
            "invalid duration `soon`",
        ),
        (
            "port: 70000\n",
            Some(1),
            Some(7),
            Some("port"),
            "`70000` is out of range: a gateway port is a number from 1024 to 65535, e.g. `port: 18789`",
        ),
        (
            "port: -1\n",
            Some(1),
            Some(7),
            Some("port"),
            "`-1` is out of range: a gateway port is a number from 1024 to 65535",
        ),
        (
            "port: 0\n",
            Some(1),
            Some(7),
            Some("port"),
            "port 0 lets the system pick any free port, a new one at every start, so neither the supervisor's probes nor clients could find the gateway: it needs a fixed port, e.g. `port: 18789`",
        ),
        (
            "port: eighty\n",
            Some(1),
            Some(7),
            Some("port"),
            "`eighty` is not a port: write a number from 1024 to 65535",
        ),
        (
            "probes:\n  liveness:\n    evry: 10s\n",
            Some(3),
            Some(5),
            Some("probes.liveness.evry"),
            "unknown key `evry`: did you mean `every`?",
        ),
        (
            "restart:\n  polcy: never\n",
            Some(2),
            Some(3),
            Some("restart.polcy"),
            "unknown key `polcy`: did you mean `policy`?",
        ),
        (
            "limits: { memroy: 2GiB }\n",
            Some(1),
            Some(11),
            Some("limits.memroy"),
            "unknown key `memroy`: did you mean `memory`?",
        ),
        (
            "prot: 1\n",
            Some(1),
            Some(1),
            Some("prot"),
            "unknown key `prot`: did you mean `port`?",
        ),
        ("role: boss\n", Some(1), Some(7), Some("role"), "boss"),
        (
            "port: 1\nport: 2\n",
            Some(2),
            Some(1),
            Some("port"),
            "duplicate",
        ),
        (
            "port: 1\n---\nport: 2\n",
            Some(2),
            Some(1),
            Some("port"),
            "the file holds more than one YAML document (`---`): a declaration is a single document",
        ),
        (
            "args: [a\n",
            Some(1),
            Some(7),
            Some("args"),
            "unclosed bracket",
        ),
        // A syntax error is placed where the fault is.
        (
            "name: a\nenv:\n  A: 'unterminated\nrole: main\nport: 1\n",
            Some(3),
            Some(6),
            Some("env.A"),
            "unclosed quote",
        ),
        (
            "name: a\nargs: [a, b\nrole: main\nport: 1\n",
            Some(2),
            Some(7),
            Some("args"),
            "this `[` is never closed: end it with `]` (the parser stumbled at line 3, column 5",
        ),
        (
            "name: a\nenv: { A: b\nrole: main\n",
            Some(2),
            Some(6),
            Some("env"),
            "this `{` is never closed: end it with `}`",
        ),
        (
            "name: a\nenv:\n  A: b\n B: c\nrole: main\n",
            Some(4),
            Some(2),
            Some("env.A"),
            "did not find expected key",
        ),
        // Validation errors are placed at their key too.
        (
            "port: 1\nrescue_of: main\n",
            Some(2),
            Some(1),
            Some("rescue_of"),
            "needs `role: rescue`",
        ),
        (
            "role: rescue\nrescue_of: Self\n",
            Some(2),
            Some(1),
            Some("rescue_of"),
            "cannot rescue itself",
        ),
        (
            "standby: true\n",
            Some(1),
            Some(1),
            Some("standby"),
            "needs `role: rescue`",
        ),
        (
            "name: main\nwake: agent\n",
            Some(2),
            Some(1),
            Some("wake"),
            "`wake` needs `role: rescue`",
        ),
        (
            "role: rescue\nwake: wake\n",
            Some(2),
            Some(1),
            Some("wake"),
            "and `rescue_of`",
        ),
        (
            "role: rescue\nrescue_of: main\nwake: page\n",
            Some(3),
            Some(7),
            Some("wake"),
            "agent",
        ),
        (
            "stop:\n  signal: SIGKILL\n",
            Some(2),
            Some(11),
            Some("stop.signal"),
            "unclean boot",
        ),
        (
            "stop: { signal: SIGWHAT }\n",
            Some(1),
            Some(17),
            Some("stop.signal"),
            "use one of SIGTERM",
        ),
        (
            "args: [--verbose, '--port=1']\n",
            Some(1),
            Some(19),
            Some("args[1]"),
            "use the `port` key",
        ),
        (
            "args: [--bind, lan]\n",
            Some(1),
            Some(8),
            Some("args[0]"),
            "use the `bind` key",
        ),
        (
            "args:\n  - --profile\n  - x\n",
            Some(2),
            Some(5),
            Some("args[0]"),
            "use the `profile` key",
        ),
        (
            "env:\n  OPENCLAW_STATE_DIR: /x\n",
            Some(2),
            Some(3),
            Some("env.OPENCLAW_STATE_DIR"),
            "use the `state_dir` key",
        ),
        (
            "env: { INVOCATION_ID: x }\n",
            Some(1),
            Some(8),
            Some("env.INVOCATION_ID"),
            "strips systemd markers",
        ),
        (
            "env: { 'A=B': x }\n",
            Some(1),
            Some(8),
            Some("env.A=B"),
            "contain no `=`",
        ),
        (
            "env: { '': x }\n",
            Some(1),
            Some(8),
            Some("env."),
            "non-empty",
        ),
        (
            "probes:\n  liveness: { http: /healthz, tcp: true }\n",
            Some(2),
            Some(3),
            Some("probes.liveness"),
            "only one of",
        ),
        (
            "probes: { startup: { http: healthz } }\n",
            Some(1),
            Some(22),
            Some("probes.startup.http"),
            "leading `/`",
        ),
        (
            "probes: { readiness: { exec: [] } }\n",
            Some(1),
            Some(24),
            Some("probes.readiness.exec"),
            "command is empty",
        ),
        (
            "probes:\n  startup:\n    failures: 2\n",
            Some(3),
            Some(5),
            Some("probes.startup.failures"),
            "no meaning for the startup probe",
        ),
        (
            "profile: 'no way'\n",
            Some(1),
            Some(1),
            Some("profile"),
            "not a valid openclaw profile name",
        ),
        (
            "restart: { backoff: { initial: 0s, max: 0s } }\n",
            Some(1),
            Some(36),
            Some("restart.backoff.max"),
            "a zero cap turns a crash loop into a hot loop",
        ),
        (
            "restart: { backoff: { initial: 10m, max: 1m } }\n",
            Some(1),
            Some(37),
            Some("restart.backoff.max"),
            "below the initial backoff",
        ),
    ];
    let mut failures = Vec::new();
    for (text, line, column, key, words) in rows {
        let err = parse_text("/d/self.yaml", text).expect_err(text);
        let DeclarationError::Invalid {
            file,
            line: got_line,
            column: got_column,
            key: got_key,
            message,
        } = &err
        else {
            failures.push(format!("{text:?}: not Invalid: {err:?}"));
            continue;
        };
        // The rendered error leads with the file and, when known, the position.
        let lead = match (line, column) {
            (Some(line), Some(column)) => format!("/d/self.yaml:{line}:{column}: "),
            _ => "/d/self.yaml: ".to_string(),
        };
        if file != Path::new("/d/self.yaml")
            || (got_line, got_column) != (line, column)
            || got_key.as_deref() != *key
            || !message.contains(words)
            || !err.to_string().starts_with(&lead)
        {
            failures.push(format!("{text:?}: {err}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_alias_bomb_is_a_clean_error() {
    // Each level multiplies by ten: fully expanded this is 10^12 strings.
    let mut text = String::from("env:\n  A: &a lol\n");
    let mut previous = "a".to_string();
    for level in 0..12 {
        let name = format!("l{level}");
        let aliases = vec![format!("*{previous}"); 10].join(", ");
        text.push_str(&format!("x{level}: &{name} [{aliases}]\n"));
        previous = name;
    }
    let err = parse_text("bomb.yaml", &text).expect_err("a bomb must not parse");
    // No key of a declaration takes nested lists, so the bomb is refused at
    // its first unknown key, before a single alias is replayed.
    assert!(
        err.to_string()
            .contains("bomb.yaml:3:1: `x0`: unknown key `x0`"),
        "{err}"
    );

    // The same through a field that accepts the aliases: the budget stops it.
    let long = "x".repeat(1000);
    let aliases = vec!["*a"; 200].join(", ");
    let text = format!("command: &a {long}\nargs: [{aliases}]\n");
    let err = parse_text("bomb.yaml", &text).expect_err("too many aliases");
    let shown = err.to_string();
    assert!(
        shown.contains(
            "the file uses more than 100 YAML aliases (`*name`): a declaration needs a few at most"
        ),
        "{shown}"
    );
    assert!(!shown.contains('{'), "no Rust debug text: {shown}");
}

#[test]
fn a_long_name_is_cut_in_messages() {
    let long = format!("a b{}", "c".repeat(297));
    let cut = format!("`a b{}…` (300 characters)", "c".repeat(37));
    let rows = [
        (
            "x.yaml".to_string(),
            format!("name: '{long}'\n"),
            cut.clone(),
        ),
        (
            "x.yaml".to_string(),
            format!("profile: '{long}'\n"),
            cut.clone(),
        ),
        (
            "x.yaml".to_string(),
            format!("role: rescue\nrescue_of: '{long}'\n"),
            cut.clone(),
        ),
        (
            format!("{}.yaml", long.replace(' ', ".")),
            String::new(),
            format!("`a.b{}…` (300 characters)", "c".repeat(37)),
        ),
    ];
    for (file, text, cut) in rows {
        let err = parse_text(&file, &text).expect_err("too long");
        let DeclarationError::Invalid { message, .. } = &err else {
            panic!("not Invalid: {err:?}");
        };
        assert!(message.contains(&cut), "{message}");
        assert!(!message.contains(&"c".repeat(40)), "{message}");
    }
}

#[test]
fn a_huge_file_is_refused_before_parsing() {
    let text = format!("# {}\n", "x".repeat(MAX_DECLARATION_BYTES));
    let err = parse_text("big.yaml", &text).expect_err("too large");
    assert!(matches!(err, DeclarationError::TooLarge { .. }), "{err:?}");
}

#[test]
fn stop_signals_are_accepted_in_any_spelling_and_stored_canonically() {
    let rows: &[(&str, Option<&str>)] = &[
        ("SIGTERM", Some("SIGTERM")),
        ("term", Some("SIGTERM")),
        ("INT", Some("SIGINT")),
        ("sigquit", Some("SIGQUIT")),
        ("HUP", Some("SIGHUP")),
        ("KILL", None),
        ("SIGUSR1", None),
        ("USR2", None),
        ("15", None),
    ];
    for (written, expected) in rows {
        let text = format!("stop: {{ signal: '{written}' }}\n");
        let result = parse_text("main.yaml", &text);
        assert_eq!(
            result
                .ok()
                .map(|loaded| loaded.declaration.stop.signal.as_str()),
            *expected,
            "{written}"
        );
    }
}

#[test]
fn a_zero_initial_backoff_is_accepted() {
    for text in [
        "restart: { backoff: { initial: 0s } }\n",
        "restart: { backoff: { initial: 0ms, max: 1s } }\n",
    ] {
        let loaded = parse_text("main.yaml", text).expect(text);
        assert_eq!(
            loaded.declaration.restart.backoff.initial,
            HumanDuration::from_millis(0),
            "{text}"
        );
    }
}

#[test]
fn a_loaded_declaration_carries_its_probes_worked_out() {
    let text = "probes:\n  liveness: { failures: 5, every: 3s }\n  readiness: { enabled: false }\n";
    let loaded = parse_text("main.yaml", text).expect("valid");
    let expected = crate::probe::effective_probes(&loaded.declaration.probes).expect("valid");
    assert_eq!(loaded.probes, expected);
    assert_eq!(loaded.probes.liveness.failures, 5);
    assert_eq!(
        loaded.probes.liveness.every,
        std::time::Duration::from_secs(3)
    );
    assert!(!loaded.probes.readiness.enabled);
}
