//! Rank 0's progress display for the long-running demos: a bar on a terminal,
//! a line every tenth of the run otherwise (logs, CI), nothing on other ranks.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress of a run of `steps` steps, shown by rank 0 only.
pub enum Progress {
    /// A bar on stderr (a terminal).
    Bar(ProgressBar),
    /// A line on stderr every `every` steps (not a terminal), named by `demo`.
    Lines {
        /// The demo's name, at the start of each line.
        demo: &'static str,
        /// Steps between lines.
        every: usize,
        /// When the run started.
        start: Instant,
    },
    /// Not rank 0: nothing shown.
    None,
}

impl Progress {
    /// The display for `steps` steps of `demo`, on rank 0 (`root`) only.
    pub fn new(demo: &'static str, root: bool, steps: usize) -> Self {
        if !root {
            return Progress::None;
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(steps as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} step {pos}/{len} [{bar:40}] {elapsed_precise} eta {eta} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            Progress::Bar(bar)
        } else {
            Progress::Lines {
                demo,
                every: steps.div_ceil(10).max(1),
                start: Instant::now(),
            }
        }
    }

    /// Step `done` of `steps` finished; the last one took `ms` milliseconds.
    pub fn step(&self, done: usize, steps: usize, ms: f64) {
        match self {
            Progress::Bar(bar) => {
                bar.set_message(format!("{ms:.1} ms/step"));
                bar.set_position(done as u64);
            }
            Progress::Lines { demo, every, start } => {
                if done.is_multiple_of(*every) || done == steps {
                    eprintln!(
                        "{demo}: step {done}/{steps}, {:.1} s, last step {ms:.1} ms",
                        start.elapsed().as_secs_f64()
                    );
                }
            }
            Progress::None => {}
        }
    }

    /// The run is over.
    pub fn finish(self) {
        if let Progress::Bar(bar) = self {
            bar.finish();
        }
    }
}
