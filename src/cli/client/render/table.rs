//! The `pm2 ls`-like tables: `status`'s and the live view's columns, what
//! each gives up on a narrow terminal, one instance's row, and the notes
//! under the table.

use openclaw_supervisor::protocol::{Event, InstanceStatus, RejectedFile};

use super::super::layout::{self, Column, Give};
use super::terminal::{Colour, Paint};
use super::units::{cpu, in_or_ago, memory, or_dash, uptime};
use super::{
    adoption, breaker_note, error_lines_title, event_colour, health, kills_note, state_colour,
    state_words, with_breaker,
};

/// Which table: `status`'s, or the live view's (`status --watch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::cli::client) enum View {
    Status,
    Watch,
}

const fn column(title: &'static str, narrow: &'static str, min: Option<usize>) -> Column {
    Column { title, narrow, min }
}

const STATUS_COLUMNS: [Column; 10] = [
    column("NAME", "NAME", Some(8)),
    column("ROLE", "ROLE", None),
    column("STATE", "STATE", Some(9)),
    column("PID", "PID", None),
    column("UPTIME", "UP", None),
    column("RESTARTS", "RST", None),
    column("HEALTH", "HEALTH", Some(9)),
    column("PORT", "PORT", None),
    column("CPU", "CPU", None),
    column("MEM", "MEM", None),
];

/// What `status` gives up, in order, when the terminal is narrow.
const STATUS_PLAN: [Give; 8] = [
    Give::NarrowTitles,
    Give::Drop("PORT"),
    Give::Drop("ROLE"),
    Give::Shrink,
    Give::Drop("UPTIME"),
    Give::Drop("CPU"),
    Give::Drop("MEM"),
    Give::Drop("PID"),
];

const WATCH_COLUMNS: [Column; 9] = [
    column("NAME", "NAME", Some(8)),
    column("STATE", "STATE", Some(9)),
    column("HEALTH", "HEALTH", Some(9)),
    column("PID", "PID", None),
    column("UPTIME", "UP", None),
    column("CPU", "CPU", None),
    column("MEM", "MEM", None),
    column("RESTARTS", "RST", None),
    column("LAST EVENT", "LAST", Some(12)),
];

/// What the live view gives up, in order, when the terminal is narrow.
const WATCH_PLAN: [Give; 6] = [
    Give::NarrowTitles,
    Give::Shrink,
    Give::Drop("PID"),
    Give::Drop("UPTIME"),
    Give::Drop("CPU"),
    Give::Drop("MEM"),
];

type Cell = (String, Option<Colour>);

/// One instance's cells in `view`'s columns.
fn row(instance: &InstanceStatus, view: View, now_ms: u64) -> Vec<Cell> {
    let state = instance.state.clone();
    let state = (
        state_words(instance, state.clone(), now_ms),
        state_colour(&state),
    );
    let name = (instance.name.clone(), None);
    let pid = (or_dash(instance.pid, |pid| pid.to_string()), None);
    let mark = match adoption::runs_adopted(instance) {
        true => adoption::MARK,
        false => "",
    };
    let uptime_cell = (
        or_dash(instance.uptime_secs, |secs| uptime(secs) + mark),
        None,
    );
    let restarts = (instance.restarts.to_string(), None);
    let health_cell = with_breaker(instance, health(instance));
    let cpu_cell = (or_dash(instance.cpu_percent, cpu), None);
    let memory_cell = (or_dash(instance.memory_bytes, memory), None);
    match view {
        View::Status => vec![
            name,
            (instance.role.as_str().to_string(), None),
            state,
            pid,
            uptime_cell,
            restarts,
            health_cell,
            (instance.ports.base.to_string(), None),
            cpu_cell,
            memory_cell,
        ],
        View::Watch => vec![
            name,
            state,
            health_cell,
            pid,
            uptime_cell,
            cpu_cell,
            memory_cell,
            restarts,
            last_event(instance.last_event.as_ref(), now_ms),
        ],
    }
}

/// The last event's kind and age: `stopped 12s`.
fn last_event(event: Option<&Event>, now_ms: u64) -> Cell {
    match event {
        Some(event) => (
            format!(
                "{} {}",
                event.kind.as_str(),
                uptime(now_ms.saturating_sub(event.at) / 1000)
            ),
            event_colour(event.kind.as_str()),
        ),
        None => (String::from("-"), None),
    }
}

/// The `pm2 ls`-like table fitted to `width`, then the notes an operator
/// needs next to it: wrapped at `width` in the live view (a frame must not
/// scroll), whole lines in `status` (a terminal wraps prose readably, and
/// a script can find a whole note).
pub(in crate::cli::client) fn table(
    instances: &[InstanceStatus],
    rejected: &[RejectedFile],
    view: View,
    paint: Paint,
    now_ms: u64,
    width: usize,
) -> String {
    let (columns, plan): (&[Column], &[Give]) = match view {
        View::Status => (&STATUS_COLUMNS, &STATUS_PLAN),
        View::Watch => (&WATCH_COLUMNS, &WATCH_PLAN),
    };
    let rows: Vec<Vec<Cell>> = instances
        .iter()
        .map(|instance| row(instance, view, now_ms))
        .collect();
    let texts: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|(text, _)| text.clone()).collect())
        .collect();
    let fitted = layout::fit(columns, &texts, width, plan);
    let line = |cells: &[Cell]| {
        let mut text = String::new();
        for (position, &(index, width)) in fitted.columns.iter().enumerate() {
            let (cell, colour) = &cells[index];
            let cell = layout::cut(cell, width);
            // Pad before painting: escape codes have no width.
            let padded = match position + 1 == fitted.columns.len() {
                true => cell,
                false => format!("{cell:<width$}{:gap$}", "", gap = layout::GAP),
            };
            text.push_str(&paint.paint(&padded, *colour));
        }
        text.trim_end().to_string() + "\n"
    };
    let header: Vec<Cell> = (0..columns.len())
        .map(|index| (fitted.title(columns, index).to_string(), None))
        .collect();
    let mut out = line(&header);
    for row in &rows {
        out.push_str(&line(row));
    }
    let note_width = match view {
        View::Watch => width,
        View::Status => usize::MAX,
    };
    let mut note = |text: String, indent: &str| {
        for wrapped in layout::wrap(&text, note_width, indent) {
            out.push_str(&wrapped);
            out.push('\n');
        }
    };
    if instances.is_empty() {
        note(String::from("no instances declared"), "  ");
    }
    if let Some(legend) = adoption::legend(instances) {
        note(legend, "  ");
    }
    for instance in instances {
        if let Some(at) = instance.next_restart_at {
            note(
                format!("{}: next restart {}", instance.name, in_or_ago(at, now_ms)),
                "  ",
            );
        }
        if let Some(text) = breaker_note(instance) {
            note(format!("{}: {text}", instance.name), "  ");
        }
        if let Some(text) = kills_note(instance) {
            note(format!("{}: {text}", instance.name), "  ");
        }
        if instance.dropped_log_lines > 0 {
            note(
                format!(
                    "{name}: {} output lines dropped: logs/{name}.log in the state dir could not take them (a full disk?)",
                    instance.dropped_log_lines,
                    name = instance.name,
                ),
                "  ",
            );
        }
        if !instance.last_error_lines.is_empty() {
            note(
                format!("{}: {}:", instance.name, error_lines_title(instance)),
                "  ",
            );
            for error_line in &instance.last_error_lines {
                note(format!("  {error_line}"), "    ");
            }
        }
    }
    for file in rejected {
        let lines = layout::wrap(
            &format!("rejected {}: {}", file.file, file.reason),
            note_width,
            "  ",
        );
        for (index, wrapped) in lines.iter().enumerate() {
            match wrapped.strip_prefix("rejected").filter(|_| index == 0) {
                Some(rest) => {
                    out.push_str(&paint.paint("rejected", Some(Colour::Red)));
                    out.push_str(rest);
                }
                None => out.push_str(wrapped),
            }
            out.push('\n');
        }
    }
    out
}
