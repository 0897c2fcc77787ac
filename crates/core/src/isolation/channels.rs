//! Channel credentials: two instances whose enabled channel accounts
//! resolve to one token (a Telegram bot, a Discord bot, a Slack app) take
//! each other's updates. Compared by keyed fingerprint; what is shown is
//! the channel, the account and where each instance takes the token from.

use super::{Movers, Problem, Resource};
use crate::openclaw::Effective;
use crate::openclaw::channels::{self, Resolved};

/// Every credential `a` and `b` share, one problem each.
pub(super) fn credential_problems(a: &Effective, b: &Effective, movers: &Movers) -> Vec<Problem> {
    let mut problems = Vec::new();
    for ours in &a.channels {
        let Resolved::Checked(fingerprint) = &ours.resolved else {
            continue;
        };
        for theirs in &b.channels {
            if theirs.channel != ours.channel
                || theirs.what != ours.what
                || theirs.resolved != Resolved::Checked(fingerprint.clone())
            {
                continue;
            }
            let (moving, _) = movers.pick(a, b, rescue_moves(a, b));
            problems.push(Problem {
                resource: Resource::ChannelCredential,
                instances: vec![a.name.clone(), b.name.clone()],
                shared: format!(
                    "{} {}: {} account `{}`, {} account `{}`",
                    ours.channel, ours.what, a.name, ours.account, b.name, theirs.account
                ),
                message: format!(
                    "{} {}: {}'s account `{}` ({}) and {}'s account `{}` ({}) resolve to the same {}: the two gateways would take each other's updates",
                    ours.channel,
                    ours.what,
                    a.name,
                    ours.account,
                    ours.source,
                    b.name,
                    theirs.account,
                    theirs.source,
                    ours.what
                ),
                fix: channels::fix(&ours.channel, &ours.what, &moving.name, &moving.config_path),
            });
        }
    }
    problems
}

/// `(mover, staying)`: a rescue gives way to its main, else the later one.
fn rescue_moves<'a>(a: &'a Effective, b: &'a Effective) -> (&'a Effective, &'a Effective) {
    if a.declaration.rescue_of.is_some() && b.declaration.rescue_of.is_none() {
        (a, b)
    } else {
        (b, a)
    }
}

#[cfg(test)]
mod tests {
    use crate::isolation::fixtures::{instance, with};
    use crate::isolation::{Resource, check};
    use crate::openclaw::Secret;
    use crate::openclaw::channels::{ChannelCredential, Resolved};

    fn telegram(account: &str, source: &str, token: &str) -> ChannelCredential {
        ChannelCredential {
            channel: "telegram".to_string(),
            account: account.to_string(),
            what: "bot token".to_string(),
            source: source.to_string(),
            resolved: Resolved::Checked(Secret::new(token)),
        }
    }

    #[test]
    fn one_token_in_two_instances_is_a_conflict_naming_both_and_the_fix() {
        let token = "123456:FAKE-not-a-real-token";
        let main = with(instance("main", 18789), |main| {
            main.channels = vec![telegram(
                "default",
                "channels.telegram.botToken in /m",
                token,
            )];
        });
        let rescue = with(instance("rescue", 19789), |rescue| {
            rescue.declaration.rescue_of = Some("main".to_string());
            rescue.channels = vec![
                telegram(
                    "ops",
                    "channels.telegram.accounts.ops.botToken in /r",
                    "other",
                ),
                telegram(
                    "default",
                    "TELEGRAM_BOT_TOKEN in the gateway's environment",
                    token,
                ),
            ];
        });
        // The rescue is asked to move, whichever side it is on.
        for set in [
            [main.clone(), rescue.clone()],
            [rescue.clone(), main.clone()],
        ] {
            let problems = check(&set);
            assert_eq!(problems.len(), 1, "{problems:?}");
            let problem = &problems[0];
            assert_eq!(problem.resource, Resource::ChannelCredential);
            let text = format!("{problem} {problem:?}");
            assert!(!text.contains("FAKE") && !text.contains("123456"), "{text}");
            assert!(
                text.contains("main's account `default` (channels.telegram.botToken in /m)"),
                "{text}"
            );
            assert!(
                text.contains(
                    "rescue's account `default` (TELEGRAM_BOT_TOKEN in the gateway's environment)"
                ),
                "{text}"
            );
            assert!(
                problem.fix.starts_with("create a second bot for rescue with BotFather and put its token in rescue's config /h/.openclaw-rescue/openclaw.json"),
                "{}",
                problem.fix
            );
        }
        // Not checked, or a different token: no conflict.
        let unknown = with(rescue.clone(), |rescue| {
            rescue.channels[1].resolved = Resolved::NotChecked("SecretRef".to_string());
        });
        assert!(check(&[main.clone(), unknown]).is_empty());
        let own = with(rescue, |rescue| {
            rescue.channels[1] = telegram("default", "x", "999:FAKE-own");
        });
        assert!(check(&[main, own]).is_empty());
    }
}
