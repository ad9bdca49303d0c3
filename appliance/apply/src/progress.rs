//! What an install reports while it runs: typed events, so a front end shows them as it likes
//! (the unattended installer prints each as a line; the TUI counts steps and keeps the log)
//! without reading meaning back out of text.

use std::fmt;

/// How a step ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// Nothing to do.
    Unchanged,
    /// What it changed, one entry per change.
    Changed(Vec<String>),
    /// It failed; nothing after it ran.
    Failed,
}

/// One event of a running install.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Step `index` of `total` (from 1) named `name` ended after `secs`.
    Step {
        /// Its place, from 1.
        index: usize,
        /// How many steps there are.
        total: usize,
        /// Its name (`files`, `directory`, …).
        name: String,
        /// How it ended.
        outcome: StepOutcome,
        /// How long it took, in seconds.
        secs: f64,
    },
    /// A line of detail between steps (a dry run's diff, the join's progress).
    Note(String),
}

impl Event {
    /// Whether this event ends a step.
    pub fn is_step(&self) -> bool {
        matches!(self, Event::Step { .. })
    }
}

impl fmt::Display for Event {
    /// The line the terminal and the journal show: `[3/6] files: wrote …; wrote … (0.4 s)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Note(line) => f.write_str(line),
            Event::Step {
                index,
                total,
                name,
                outcome,
                secs,
            } => {
                let what = match outcome {
                    StepOutcome::Unchanged => "unchanged".to_owned(),
                    StepOutcome::Changed(c) => c.join("; "),
                    StepOutcome::Failed => "FAILED".to_owned(),
                };
                write!(f, "[{index}/{total}] {name}: {what} ({secs:.1} s)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_the_lines_people_know() {
        let step = |outcome| Event::Step {
            index: 3,
            total: 6,
            name: "files".into(),
            outcome,
            secs: 0.42,
        };
        assert_eq!(
            step(StepOutcome::Unchanged).to_string(),
            "[3/6] files: unchanged (0.4 s)"
        );
        assert_eq!(
            step(StepOutcome::Changed(vec![
                "wrote /a".into(),
                "wrote /b".into()
            ]))
            .to_string(),
            "[3/6] files: wrote /a; wrote /b (0.4 s)"
        );
        assert_eq!(
            step(StepOutcome::Failed).to_string(),
            "[3/6] files: FAILED (0.4 s)"
        );
        assert!(step(StepOutcome::Failed).is_step());
        assert!(!Event::Note("x".into()).is_step());
    }
}
