//! Summaries of samples and the rows of the printed tables.

use std::time::Duration;

/// Median, p99 and max of a set of durations (nearest-rank quantiles).
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub n: usize,
    pub median: Duration,
    pub p99: Duration,
    pub max: Duration,
}

pub fn summarize(samples: &[Duration]) -> Summary {
    assert!(!samples.is_empty(), "no samples to summarize");
    let mut sorted = samples.to_vec();
    sorted.sort();
    let at = |quantile: f64| {
        let rank = (quantile * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    };
    Summary {
        n: sorted.len(),
        median: at(0.5),
        p99: at(0.99),
        max: at(1.0),
    }
}

/// A duration the way a person reads it: µs below 1 ms, ms below 1 s.
pub fn human(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.0} µs")
    } else if micros < 1_000_000.0 {
        format!("{:.2} ms", micros / 1e3)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A latency row: what was timed, its summary and a note (a rate, a cause).
pub struct LatencyRow {
    pub figure: String,
    pub summary: Summary,
    pub note: String,
}

/// A cost row: what was measured and its figures.
pub struct CostRow {
    pub figure: String,
    pub rss: String,
    pub cpu: String,
    pub note: String,
}

#[derive(Default)]
pub struct Report {
    pub latency: Vec<LatencyRow>,
    pub cost: Vec<CostRow>,
}

impl Report {
    pub fn latency(
        &mut self,
        figure: impl Into<String>,
        samples: &[Duration],
        note: impl Into<String>,
    ) {
        let row = LatencyRow {
            figure: figure.into(),
            summary: summarize(samples),
            note: note.into(),
        };
        println!(
            "  {}: n={} median {} p99 {} max {} {}",
            row.figure,
            row.summary.n,
            human(row.summary.median),
            human(row.summary.p99),
            human(row.summary.max),
            row.note
        );
        self.latency.push(row);
    }

    pub fn cost(&mut self, row: CostRow) {
        println!(
            "  {}: RSS {} CPU {} {}",
            row.figure, row.rss, row.cpu, row.note
        );
        self.cost.push(row);
    }

    /// Both tables, in Markdown.
    pub fn print(&self) {
        println!();
        println!("| latency | n | median | p99 | max | note |");
        println!("|---|---:|---:|---:|---:|---|");
        for row in &self.latency {
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                row.figure,
                row.summary.n,
                human(row.summary.median),
                human(row.summary.p99),
                human(row.summary.max),
                row.note
            );
        }
        println!();
        println!("| cost (supervisor process only) | RSS | CPU | note |");
        println!("|---|---:|---:|---|");
        for row in &self.cost {
            println!(
                "| {} | {} | {} | {} |",
                row.figure, row.rss, row.cpu, row.note
            );
        }
    }
}
