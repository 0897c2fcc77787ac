//! `openclaw-supervisor init`, run as the built binary in a temp dir with a
//! fresh HOME and nothing else inherited: what it writes, that `check`
//! passes on it, its refusals, the config's mode, and that no token is
//! ever printed.
#![allow(clippy::disallowed_methods)] // A test starts the programs it tests.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "cli_support/mod.rs"]
mod cli_support;

use cli_support::Run;

/// All a run printed, for failure messages and the token check.
fn said(run: &Run) -> String {
    format!("{}{}", run.stdout, run.stderr)
}

/// A temp HOME with a declarations dir `sup` inside it.
struct World {
    home: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        World {
            home: tempfile::tempdir().expect("temp home"),
        }
    }

    fn home(&self) -> PathBuf {
        std::fs::canonicalize(self.home.path()).expect("canonical home")
    }

    fn dir(&self) -> PathBuf {
        self.home().join("sup")
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::of(
            Command::new(env!("CARGO_BIN_EXE_openclaw-supervisor"))
                .arg("--dir")
                .arg(self.dir())
                .args(args)
                .env_clear()
                .env("HOME", self.home()),
        )
    }

    fn config(&self, profile: &str) -> PathBuf {
        self.home()
            .join(format!(".openclaw-{profile}"))
            .join("openclaw.json")
    }

    fn read_config(&self, profile: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.config(profile)).expect("config written");
        json5::from_str(&text).expect("the config is JSON5")
    }
}

/// `text` holds `part`; the failure shows both.
fn assert_has(text: &str, part: &str) {
    assert!(text.contains(part), "`{part}` not in:\n{text}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

fn port_of(declaration: &str) -> u32 {
    declaration
        .lines()
        .find_map(|line| line.strip_prefix("port: "))
        .and_then(|port| port.parse().ok())
        .expect("a port line")
}

#[test]
fn main_then_a_standby_rescue_pass_check() {
    let world = World::new();
    let main = world.run(&["init", "main"]);
    assert_eq!(main.code, 0, "{}", said(&main));
    let rescue = world.run(&["init", "rescue", "--rescue-of", "main", "--standby"]);
    assert_eq!(rescue.code, 0, "{}", said(&rescue));

    let main_yaml = std::fs::read_to_string(world.dir().join("main.yaml")).expect("main.yaml");
    let rescue_yaml =
        std::fs::read_to_string(world.dir().join("rescue.yaml")).expect("rescue.yaml");
    assert_has(&main_yaml, "profile: \"main\"\n");
    assert!(!main_yaml.contains("role:"), "{main_yaml}");
    for line in [
        "profile: \"rescue\"\n",
        "role: rescue\n",
        "rescue_of: \"main\"\n",
        "standby: true\n",
        "wake: agent\n",
    ] {
        assert_has(&rescue_yaml, line);
    }
    assert!(!main_yaml.contains("wake:"), "{main_yaml}");
    // Blocks of 111 ports that do not meet, preferably in steps of 111.
    let (main_port, rescue_port) = (port_of(&main_yaml), port_of(&rescue_yaml));
    assert!(
        rescue_port > main_port + 110 || main_port > rescue_port + 110,
        "{main_port} and {rescue_port}"
    );

    let main_config = world.read_config("main");
    let rescue_config = world.read_config("rescue");
    for (config, port) in [(&main_config, main_port), (&rescue_config, rescue_port)] {
        assert_eq!(config["gateway"]["mode"], "local");
        assert_eq!(config["gateway"]["bind"], "loopback");
        assert_eq!(config["gateway"]["port"], port);
        assert_eq!(config["gateway"]["auth"]["mode"], "token");
        assert_eq!(config["update"]["checkOnStart"], false);
        assert_eq!(config["models"]["catalogRefresh"]["enabled"], false);
    }
    assert!(main_config.get("hooks").is_none(), "{main_config}");
    assert_eq!(rescue_config["hooks"]["enabled"], true);
    let tokens = [
        &main_config["gateway"]["auth"]["token"],
        &rescue_config["gateway"]["auth"]["token"],
        &rescue_config["hooks"]["token"],
    ];
    for token in tokens {
        assert_eq!(token.as_str().map(str::len), Some(64), "{token}");
    }
    assert!(tokens[0] != tokens[1] && tokens[1] != tokens[2] && tokens[0] != tokens[2]);

    let check = world.run(&["check"]);
    assert_eq!(check.code, 0, "{}", said(&check));
    assert_has(&check.stdout, "sound: 2 instances, no conflicts");
    let home = world.home().display().to_string();
    for owned in [
        format!("main      state dir  {home}/.openclaw-main\n"),
        format!("main      workspace  {home}/.openclaw-main/workspace\n"),
        format!("rescue    state dir  {home}/.openclaw-rescue\n"),
        format!("rescue    workspace  {home}/.openclaw-rescue/workspace\n"),
    ] {
        assert_has(&check.stdout, &owned);
    }
    // What to do next, with the dir it was given.
    let dir = world.dir().display().to_string();
    for next in [
        format!("openclaw-supervisor --dir {dir} check"),
        format!("openclaw-supervisor --dir {dir} start"),
        format!("openclaw-supervisor --dir {dir} install"),
    ] {
        assert_has(&rescue.stdout, &next);
    }
}

#[test]
fn the_config_is_0600_and_no_token_is_printed() {
    let world = World::new();
    let main = world.run(&["init", "main"]);
    assert_eq!(main.code, 0, "{}", said(&main));
    let rescue = world.run(&["init", "rescue", "--rescue-of", "main"]);
    assert_eq!(rescue.code, 0, "{}", said(&rescue));
    for profile in ["main", "rescue"] {
        let config = world.config(profile);
        assert_eq!(mode(&config), 0o600, "{}", config.display());
        let state_dir = config.parent().expect("in the state dir");
        assert_eq!(mode(state_dir), 0o700, "{}", state_dir.display());
    }
    let rescue_config = world.read_config("rescue");
    assert_eq!(rescue_config["hooks"]["enabled"], true);
    assert_has(&rescue.stdout, "role rescue of main, running beside it");
    let printed = format!("{}{}", said(&main), said(&rescue));
    // The path is printed, the tokens never.
    let path = world.config("rescue").display().to_string();
    assert_has(
        &printed,
        &format!("gateway.auth.token: generated, in {path}"),
    );
    for token in [
        world.read_config("main")["gateway"]["auth"]["token"].clone(),
        rescue_config["gateway"]["auth"]["token"].clone(),
        rescue_config["hooks"]["token"].clone(),
    ] {
        let token = token.as_str().expect("a token").to_string();
        assert!(!printed.contains(&token), "a token was printed: {printed}");
    }
}

#[test]
fn it_refuses_to_overwrite_a_declaration_or_a_config() {
    let world = World::new();
    assert_eq!(world.run(&["init", "main"]).code, 0);
    let declaration = world.dir().join("main.yaml");
    let before_yaml = std::fs::read(&declaration).expect("main.yaml");
    let before_config = std::fs::read(world.config("main")).expect("config");

    let again = world.run(&["init", "main", "--port", "30000"]);
    assert_eq!(again.code, 1, "{}", said(&again));
    assert_has(&again.stderr, "init: refused, nothing written: ");
    assert_has(&again.stderr, "main.yaml already exists");
    assert_eq!(std::fs::read(&declaration).expect("main.yaml"), before_yaml);
    assert_eq!(
        std::fs::read(world.config("main")).expect("config"),
        before_config
    );

    // An OpenClaw config already there (a gateway set up by hand).
    let existing = world.config("work");
    std::fs::create_dir_all(existing.parent().expect("state dir")).expect("mkdir");
    std::fs::write(&existing, "{ gateway: { mode: \"local\" } }\n").expect("write");
    let work = world.run(&["init", "work"]);
    assert_eq!(work.code, 1, "{}", said(&work));
    assert_has(
        &work.stderr,
        &format!("{} already exists", existing.display()),
    );
    assert_eq!(
        std::fs::read_to_string(&existing).expect("config"),
        "{ gateway: { mode: \"local\" } }\n"
    );
    assert!(!world.dir().join("work.yaml").exists());

    // A rescue of nothing declared.
    let orphan = world.run(&["init", "rescue", "--rescue-of", "nope"]);
    assert_eq!(orphan.code, 1, "{}", said(&orphan));
    assert_has(&orphan.stderr, "no instance named `nope`");
    assert!(!world.dir().join("rescue.yaml").exists());
    assert!(!world.config("rescue").exists());
}

#[test]
fn a_chosen_port_in_use_or_taken_is_refused_with_the_reason() {
    let world = World::new();
    assert_eq!(world.run(&["init", "main", "--port", "20000"]).code, 0);
    let taken = world.run(&["init", "other", "--port", "20050"]);
    assert_eq!(taken.code, 1, "{}", said(&taken));
    assert_has(
        &taken.stderr,
        "its block 20050..20160 meets ports 20000..20110 of `main`",
    );
    // A port held now (the kernel's choice, which also lies in the
    // ephemeral range: being held is said first).
    let (_listener, held) = (0..100)
        .map(|_| {
            let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
            let port = listener.local_addr().expect("address").port();
            (listener, port)
        })
        .find(|(_, port)| u32::from(*port) + 110 <= 65535)
        .expect("a port whose block fits below 65535");
    let run = world.run(&["init", "other", "--port", &held.to_string()]);
    assert_eq!(run.code, 1, "{}", said(&run));
    assert_has(&run.stderr, &format!("port {held} of its block {held}.."));
    assert_has(&run.stderr, "is in use now");
    assert!(!world.dir().join("other.yaml").exists());
    assert!(!world.config("other").exists());
}

#[test]
fn a_port_that_is_not_one_is_refused_with_the_range_and_a_fix() {
    let world = World::new();
    for (written, words) in [
        (
            "70000",
            "`70000` is out of range: a gateway port is a number from 1024 to 65535, e.g. `--port 18789`",
        ),
        ("0", "port 0 lets the system pick any free port"),
        (
            "eighty",
            "`eighty` is not a port: write a number from 1024 to 65535, e.g. `--port 18789`",
        ),
    ] {
        let run = world.run(&["init", "main", "--port", written]);
        assert_eq!(run.code, 2, "{written}: {}", said(&run));
        assert_has(&run.stderr, words);
        assert!(!run.stderr.contains("u16"), "{}", run.stderr);
        assert!(!world.dir().join("main.yaml").exists());
    }
}
