//! What a keeper does with an order from its supervisor, given whether it
//! is idle and whether its gateway has exited (pure; a table test).

use super::super::wire::{Order, ToKeeper};

/// What a keeper does with an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Obey<'a> {
    /// Reap the exited gateway and wait, idle, for the next order.
    Reap,
    /// Start the next gateway.
    Start(&'a Order),
    /// End the keeper.
    End,
    /// Out of turn: nothing.
    Ignore,
}

/// An order, for a keeper that is `idle` (its gateway reaped) or holds a
/// gateway that has `exited` or not. Every order out of turn is ignored:
/// an ack with a gateway alive, a start or an end while a gateway is held
/// (its gateway is never orphaned or doubled by an order).
pub(super) fn obey(order: &ToKeeper, idle: bool, exited: bool) -> Obey<'_> {
    match (order, idle) {
        (ToKeeper::Ack, false) if exited => Obey::Reap,
        (ToKeeper::Start(next), true) => Obey::Start(next),
        (ToKeeper::End, true) => Obey::End,
        _ => Obey::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_obeyed_only_in_turn() {
        let next = Order::default();
        let start = ToKeeper::Start(Box::new(next.clone()));
        // (order, idle, exited) -> what the keeper does
        let rows = [
            (&ToKeeper::Ack, false, true, Obey::Reap),
            (&ToKeeper::Ack, false, false, Obey::Ignore),
            (&ToKeeper::Ack, true, true, Obey::Ignore),
            (&start, true, true, Obey::Start(&next)),
            (&start, false, false, Obey::Ignore),
            (&start, false, true, Obey::Ignore),
            (&ToKeeper::End, true, true, Obey::End),
            (&ToKeeper::End, false, false, Obey::Ignore),
            (&ToKeeper::End, false, true, Obey::Ignore),
        ];
        for (order, idle, exited, want) in rows {
            assert_eq!(
                obey(order, idle, exited),
                want,
                "{order:?} idle {idle} exited {exited}"
            );
        }
    }
}
