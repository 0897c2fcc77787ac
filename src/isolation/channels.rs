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
