//! The words of a command's reply, at the wire edge: a table.

use nix::sys::signal::Signal;

use super::*;

fn ok(message: &str, state: &str, acted: bool) -> Response {
    Response::Ok {
        message: Some(message.to_string()),
        outcome: Some(CommandOutcome {
            state: state.to_string(),
            acted,
        }),
    }
}

fn refused(message: &str) -> Response {
    Response::error(ErrorKind::Refused, message)
}

#[test]
fn a_commands_reply_says_what_the_instance_did() {
    use ControlCommand::{Restart, Signal as Sig, Start, Stop};
    use StateName::*;
    let done = |state| Some(Outcome::Done { state });
    let no = |reason| Some(Outcome::Refused { reason });
    let rows: Vec<(ControlCommand, Option<Outcome>, Response)> = vec![
        (
            Start,
            done(Starting),
            ok("main: starting", "starting", true),
        ),
        (Start, done(Running), ok("main: running", "running", true)),
        (
            Start,
            done(Backoff),
            ok(
                "main: backoff: its gateway could not be spawned; `status main` says why",
                "backoff",
                true,
            ),
        ),
        (
            Restart,
            done(Failed),
            ok(
                "main: failed: its gateway could not be spawned; `status main` says why",
                "failed",
                true,
            ),
        ),
        (Stop, done(Stopping), ok("main: stopping", "stopping", true)),
        (Stop, done(Stopped), ok("main: stopped", "stopped", true)),
        (
            Stop,
            done(Exiting),
            ok(
                "main: exiting: stopped once the processes its gateway left are gone",
                "exiting",
                true,
            ),
        ),
        (
            Restart,
            done(Exiting),
            ok(
                "main: exiting: starting again once the processes its gateway left are gone",
                "exiting",
                true,
            ),
        ),
        (
            Start,
            no(Refusal::Ignored(Exiting)),
            Response::error(
                ErrorKind::Refused,
                "main: not started: nothing to do while it is exiting".to_string(),
            ),
        ),
        (
            Restart,
            done(Stopping),
            ok("main: stopping, then starting again", "stopping", true),
        ),
        (
            Restart,
            done(Starting),
            ok("main: starting", "starting", true),
        ),
        (
            Sig(Signal::SIGHUP),
            done(Running),
            ok("main: sent SIGHUP", "running", true),
        ),
        // Already where the command leads: `ok`, nothing done.
        (
            Start,
            no(Refusal::Already(Running)),
            ok("main: already running", "running", false),
        ),
        (
            Stop,
            no(Refusal::Already(Stopped)),
            ok("main: already stopped", "stopped", false),
        ),
        (
            Restart,
            no(Refusal::AlreadyRestarting),
            ok("main: already restarting", "stopping", false),
        ),
        // Not done, and its end not where it is heading: `refused`.
        (
            Start,
            no(Refusal::Stopping),
            refused("main: not started: it is stopping; `start main` again once it has stopped"),
        ),
        (
            Restart,
            no(Refusal::Stopping),
            refused(
                "main: not restarted: it is stopping; `restart main` again once it has stopped",
            ),
        ),
        (
            Sig(Signal::SIGTERM),
            no(Refusal::NoGateway(Stopped)),
            refused(
                "main has no running gateway to signal (it is stopped); start it with `start main`",
            ),
        ),
        (
            Stop,
            no(Refusal::Removed),
            refused("main: not stopped: the instance was removed"),
        ),
        (
            Start,
            no(Refusal::Ignored(Standby)),
            refused("main: not started: nothing to do while it is standby"),
        ),
        // The actor did not act within the wait: accepted, said so.
        (
            Stop,
            None,
            Response::ok_with(
                "main: stop accepted, not carried out yet: the instance is busy; `status main` shows when it is",
            ),
        ),
    ];
    for (command, outcome, expected) in rows {
        assert_eq!(
            command_reply("main", command, outcome, None),
            expected,
            "{command:?} {outcome:?}"
        );
    }
}

#[test]
fn an_unsaved_intent_ends_every_reply() {
    let why = "the stop could not be saved (disk full): it holds until this supervisor ends";
    let done = command_reply(
        "q",
        ControlCommand::Stop,
        Some(Outcome::Done {
            state: StateName::Stopping,
        }),
        Some(why.to_string()),
    );
    assert_eq!(done, ok(&format!("q: stopping; {why}"), "stopping", true));
    let refusal = command_reply(
        "q",
        ControlCommand::Start,
        Some(Outcome::Refused {
            reason: Refusal::Stopping,
        }),
        Some(why.to_string()),
    );
    assert_eq!(
        refusal,
        refused(&format!(
            "q: not started: it is stopping; `start q` again once it has stopped; {why}"
        ))
    );
}
