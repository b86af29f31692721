//! A progress bar on standard error for long replays: only when standard error is a terminal
//! (never in pipes, files or tests), only once a replay has run for a moment, and erased at the
//! end so the report stays clean.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Replays shorter than this never show a bar.
const DELAY: Duration = Duration::from_millis(300);
/// At most this often a redraw.
const PERIOD: Duration = Duration::from_millis(100);
const WIDTH: usize = 30;

/// The progress of one replay.
#[derive(Debug)]
pub struct Progress {
    total: usize,
    enabled: bool,
    started: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    /// A bar for `total` exchanges, shown only if standard error is a terminal.
    pub fn new(total: usize) -> Self {
        Self { total, enabled: total > 0 && std::io::stderr().is_terminal(), started: Instant::now(), last_draw: None }
    }

    /// `done` exchanges have finished.
    pub fn update(&mut self, done: usize) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        let due = match self.last_draw {
            None => now.duration_since(self.started) >= DELAY,
            Some(last) => now.duration_since(last) >= PERIOD,
        };
        if !due {
            return;
        }
        self.last_draw = Some(now);
        let filled = (done * WIDTH).checked_div(self.total).unwrap_or(WIDTH).min(WIDTH);
        let bar: String = "#".repeat(filled) + &"-".repeat(WIDTH - filled);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r[{bar}] {done}/{} exchanges", self.total);
        let _ = err.flush();
    }

    /// Erases the bar, if it was drawn.
    pub fn finish(&mut self) {
        if self.last_draw.take().is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}
