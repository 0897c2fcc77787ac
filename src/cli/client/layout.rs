//! Fitting a table into the terminal's width: the columns a table gives up,
//! in its own order, until every line fits (short titles, cells cut with an
//! ellipsis, columns left out), and prose wrapped at the same width. Pure:
//! the width comes in from the caller ([`super::render::terminal_width`]).

/// Spaces between two columns.
pub(super) const GAP: usize = 2;

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Column {
    pub title: &'static str,
    /// The title in the narrow layout.
    pub narrow: &'static str,
    /// The narrowest its cells may be cut to (with an ellipsis) before other
    /// columns are left out; `None`: cut only as a last resort.
    pub min: Option<usize>,
}

/// What a table gives up, in order, until it fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Give {
    /// The narrow titles.
    NarrowTitles,
    /// Cut the columns that have a `min` towards it, the widest first.
    Shrink,
    /// Leave out the column with this title.
    Drop(&'static str),
}

/// The columns shown, as (index into the table's columns, width), and
/// whether the titles are the narrow ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Fitted {
    pub columns: Vec<(usize, usize)>,
    pub narrow: bool,
}

impl Fitted {
    pub(super) fn title(&self, columns: &[Column], index: usize) -> &'static str {
        match self.narrow {
            true => columns[index].narrow,
            false => columns[index].title,
        }
    }
}

fn total(widths: &[usize]) -> usize {
    widths.iter().sum::<usize>() + GAP * widths.len().saturating_sub(1)
}

/// Cut the columns whose floor is `Some` by one character at a time, the
/// widest first, until the whole fits `width` or each is at its floor.
fn shrink(widths: &mut [usize], floors: &[Option<usize>], width: usize) {
    while total(widths) > width {
        let widest = widths
            .iter()
            .zip(floors)
            .enumerate()
            .filter_map(|(index, (w, floor))| floor.filter(|f| w > f).map(|_| (index, *w)))
            .max_by_key(|(index, w)| (*w, std::cmp::Reverse(*index)));
        match widest {
            Some((index, _)) => widths[index] -= 1,
            None => return,
        }
    }
}

/// The layout of `rows` (cells as plain text, one per column) in `width`
/// characters: nothing is given up while the natural layout fits, then
/// `plan` step by step; when even the whole plan is not enough, every
/// column is cut down to one character and, last, columns are left out
/// from the right.
pub(super) fn fit(columns: &[Column], rows: &[Vec<String>], width: usize, plan: &[Give]) -> Fitted {
    let mut narrow = false;
    let mut shrinking = false;
    let mut dropped: Vec<&str> = Vec::new();
    let mut steps = plan.iter();
    loop {
        let kept: Vec<usize> = (0..columns.len())
            .filter(|index| !dropped.contains(&columns[*index].title))
            .collect();
        let mut widths: Vec<usize> = kept
            .iter()
            .map(|&index| {
                let title = match narrow {
                    true => columns[index].narrow,
                    false => columns[index].title,
                };
                rows.iter()
                    .filter_map(|row| row.get(index))
                    .map(|cell| cell.chars().count())
                    .fold(title.chars().count(), usize::max)
            })
            .collect();
        if shrinking {
            let floors: Vec<Option<usize>> = kept.iter().map(|&i| columns[i].min).collect();
            shrink(&mut widths, &floors, width);
        }
        if total(&widths) > width
            && let Some(step) = steps.next()
        {
            match step {
                Give::NarrowTitles => narrow = true,
                Give::Shrink => shrinking = true,
                Give::Drop(title) => dropped.push(title),
            }
            continue;
        }
        // Past the plan: every column down to one character, then columns
        // left out from the right.
        let mut columns_shown: Vec<(usize, usize)> = kept.into_iter().zip(widths).collect();
        if total(&columns_shown.iter().map(|c| c.1).collect::<Vec<_>>()) > width {
            let mut widths: Vec<usize> = columns_shown.iter().map(|c| c.1).collect();
            let floors = vec![Some(1); widths.len()];
            shrink(&mut widths, &floors, width);
            for (shown, cut) in columns_shown.iter_mut().zip(widths) {
                shown.1 = cut;
            }
            while columns_shown.len() > 1
                && total(&columns_shown.iter().map(|c| c.1).collect::<Vec<_>>()) > width
            {
                columns_shown.pop();
            }
        }
        return Fitted {
            columns: columns_shown,
            narrow,
        };
    }
}

/// `text` in at most `width` characters: cut with an ellipsis when longer.
pub(super) fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    match width {
        0 => String::new(),
        _ => text.chars().take(width - 1).chain(['…']).collect(),
    }
}

/// `text` wrapped at spaces into lines of at most `width` characters, the
/// lines after the first indented by `indent`; a word longer than a line is
/// broken. A text that fits is returned as it is; one that does not keeps
/// its leading spaces and every word (runs of spaces become one).
pub(super) fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let width = width.max(1);
    if text.chars().count() <= width {
        return vec![text.to_string()];
    }
    let indent: Vec<char> = match indent.chars().count() < width {
        true => indent.chars().collect(),
        false => Vec::new(),
    };
    let body = text.trim_start_matches(' ');
    let mut line: Vec<char> = vec![' '; (text.len() - body.len()).min(width - 1)];
    let mut lines: Vec<String> = Vec::new();
    // No word on the current line yet.
    let mut empty = true;
    for word in body.split(' ').filter(|word| !word.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        while !word.is_empty() {
            let space = usize::from(!empty);
            if line.len() + space + word.len() <= width {
                if !empty {
                    line.push(' ');
                }
                line.append(&mut word);
                empty = false;
                continue;
            }
            if empty {
                // Alone on its line and still too long: break the word.
                let take = width.saturating_sub(line.len()).max(1).min(word.len());
                line.extend(word.drain(..take));
            }
            lines.push(
                std::mem::replace(&mut line, indent.clone())
                    .into_iter()
                    .collect(),
            );
            empty = true;
        }
    }
    if !empty || lines.is_empty() {
        lines.push(line.into_iter().collect());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: [Column; 3] = [
        Column {
            title: "NAME",
            narrow: "NAME",
            min: Some(6),
        },
        Column {
            title: "RESTARTS",
            narrow: "RST",
            min: None,
        },
        Column {
            title: "PORT",
            narrow: "PORT",
            min: None,
        },
    ];
    const PLAN: [Give; 3] = [Give::NarrowTitles, Give::Drop("PORT"), Give::Shrink];

    fn rows(name: &str) -> Vec<Vec<String>> {
        vec![vec![name.to_string(), "1".to_string(), "18789".to_string()]]
    }

    #[test]
    fn a_table_gives_up_its_plan_in_order_until_it_fits() {
        // name, width -> the columns shown (index, width), narrow titles
        let table = vec![
            ("main", 80, vec![(0, 4), (1, 8), (2, 5)], false),
            ("main", 21, vec![(0, 4), (1, 8), (2, 5)], false),
            ("main", 20, vec![(0, 4), (1, 3), (2, 5)], true),
            ("main", 16, vec![(0, 4), (1, 3), (2, 5)], true),
            ("main", 15, vec![(0, 4), (1, 3)], true),
            ("a-long-name", 16, vec![(0, 11), (1, 3)], true),
            ("a-long-name", 12, vec![(0, 7), (1, 3)], true),
            ("a-long-name", 11, vec![(0, 6), (1, 3)], true),
            // Past the plan: cut below the floors, then columns left out.
            ("a-long-name", 9, vec![(0, 4), (1, 3)], true),
            ("a-long-name", 4, vec![(0, 1), (1, 1)], true),
            ("a-long-name", 2, vec![(0, 1)], true),
        ];
        for (name, width, columns, narrow) in table {
            let fitted = fit(&COLUMNS, &rows(name), width, &PLAN);
            assert_eq!(fitted, Fitted { columns, narrow }, "{name} in {width}");
            let used: usize = fitted.columns.iter().map(|c| c.1).sum::<usize>()
                + GAP * (fitted.columns.len() - 1);
            assert!(used <= width, "{name} in {width}: {used}");
        }
    }

    #[test]
    fn cells_are_cut_with_an_ellipsis() {
        let table = vec![
            ("running", 8, "running"),
            ("running", 7, "running"),
            ("running", 6, "runni…"),
            ("not ready: discord", 9, "not read…"),
            ("x", 1, "x"),
            ("xy", 1, "…"),
            ("xy", 0, ""),
        ];
        for (text, width, expected) in table {
            assert_eq!(cut(text, width), expected, "{text} in {width}");
        }
    }

    #[test]
    fn prose_wraps_at_spaces_and_keeps_every_word() {
        let table: Vec<(&str, usize, &str, Vec<&str>)> = vec![
            ("short", 20, "  ", vec!["short"]),
            ("one two three", 7, "  ", vec!["one two", "  three"]),
            ("one two three", 8, "", vec!["one two", "three"]),
            (
                "abcdefghij xy",
                4,
                "  ",
                vec!["abcd", "  ef", "  gh", "  ij", "  xy"],
            ),
            ("", 10, "  ", vec![""]),
            // A text that fits is left alone; one that does not keeps its
            // leading spaces.
            ("  a  b", 6, "    ", vec!["  a  b"]),
            (
                "  Error: port in use",
                12,
                "    ",
                vec!["  Error:", "    port in", "    use"],
            ),
        ];
        for (text, width, indent, expected) in table {
            let lines = wrap(text, width, indent);
            assert_eq!(lines, expected, "{text:?} in {width}");
            assert!(lines.iter().all(|line| line.chars().count() <= width));
        }
    }
}
