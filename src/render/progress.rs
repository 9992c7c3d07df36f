//! Progress of the slow steps (reading live settings, applying batches) on stderr.
//!
//! Three modes, chosen once in `main.rs` ([`ProgressMode::choose`]):
//! - [`ProgressMode::Bar`] when stderr is a terminal: an indicatif bar (a spinner while
//!   reading live settings), cleared when the step ends. Log lines are written with the bar
//!   suspended ([`LogWriter`]), so the two never tear each other.
//! - [`ProgressMode::Lines`] when stderr is not a terminal: one plain line per batch sent
//!   (`sent batch 2/5 (100 targets): 100 confirmed`), no escape codes; with JSON logs the
//!   same line as a JSON object with the counts as fields (a CI log collector wants one
//!   JSON object per line). Reading live settings prints no extra line there.
//! - [`ProgressMode::Off`] with `-q`.
//!
//! Progress is not logging: it shows at the default level. apply's per-batch log events
//! (INFO) show only with `-v`.
//!
//! The bar is coloured only when stderr may be ([`Terminal::color_stderr`]: a terminal,
//! no `NO_COLOR`, no `--no-color`).
//!
//! This module renders only; [`crate::apply::execute`] reports through [`Progress`] and
//! knows nothing of terminals.

use std::io::{self, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::apply::{BatchSummary, Progress};
use crate::render::terminal::{ProgressMode, Terminal};
use crate::wording::plural;

/// The bar being drawn, if any: log lines suspend it while they are written.
static ACTIVE: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn set_active(bar: Option<ProgressBar>) {
    *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = bar;
}

fn new_bar(bar: ProgressBar) -> ProgressBar {
    bar.set_draw_target(ProgressDrawTarget::stderr());
    set_active(Some(bar.clone()));
    bar
}

fn clear(bar: Option<ProgressBar>) {
    if let Some(bar) = bar {
        set_active(None);
        bar.finish_and_clear();
    }
}

/// Apply's progress: a bar over the batches, or a line per batch.
#[derive(Debug)]
pub struct ApplyProgress {
    mode: ProgressMode,
    color: bool,
    term: Terminal,
    bar: Option<ProgressBar>,
    /// Targets to send, and sent so far (for the bar's message).
    targets: usize,
    sent: usize,
}

impl ApplyProgress {
    pub fn new(term: &Terminal) -> ApplyProgress {
        ApplyProgress {
            mode: term.progress(),
            color: term.color_stderr(),
            term: *term,
            bar: None,
            targets: 0,
            sent: 0,
        }
    }
}

impl Progress for ApplyProgress {
    fn started(&mut self, batches: usize, targets: usize) {
        self.targets = targets;
        if self.mode != ProgressMode::Bar || batches == 0 {
            return;
        }
        let template = if self.color {
            "{spinner:.green} applying [{bar:30.cyan/blue}] {pos}/{len} batches {msg}"
        } else {
            "{spinner} applying [{bar:30}] {pos}/{len} batches {msg}"
        };
        let style = ProgressStyle::with_template(template)
            .expect("the template is valid")
            .progress_chars("=> ");
        let bar = new_bar(ProgressBar::new(batches as u64).with_style(style));
        bar.enable_steady_tick(Duration::from_millis(120));
        self.bar = Some(bar);
    }

    fn batch_done(&mut self, done: usize, total: usize, summary: BatchSummary) {
        match self.mode {
            ProgressMode::Off => {}
            ProgressMode::Bar => {
                self.sent += summary.targets - summary.not_sent;
                if let Some(bar) = &self.bar {
                    bar.set_position(done as u64);
                    bar.set_message(format!("({}/{} targets sent)", self.sent, self.targets));
                }
            }
            ProgressMode::Lines => self.term.message(
                "INFO",
                &format!("{}\n", batch_line(done, total, &summary)),
                serde_json::json!({
                    "batch": done,
                    "of": total,
                    "targets": summary.targets,
                    "confirmed": summary.confirmed,
                    "failed": summary.failed,
                    "unknown": summary.unknown,
                    "not_sent": summary.not_sent,
                }),
            ),
        }
    }
}

impl Drop for ApplyProgress {
    fn drop(&mut self) {
        clear(self.bar.take());
    }
}

/// A spinner while live settings are read (terminal only); cleared when dropped.
#[derive(Debug)]
pub struct ReadingLive {
    bar: Option<ProgressBar>,
}

impl ReadingLive {
    pub fn start(term: &Terminal, targets: usize) -> ReadingLive {
        if term.progress() != ProgressMode::Bar {
            return ReadingLive { bar: None };
        }
        let template = if term.color_stderr() {
            "{spinner:.green} {msg} {elapsed}"
        } else {
            "{spinner} {msg} {elapsed}"
        };
        let style = ProgressStyle::with_template(template).expect("the template is valid");
        let bar = new_bar(ProgressBar::new_spinner().with_style(style));
        bar.set_message(format!(
            "reading live settings of {}",
            plural(targets, "target")
        ));
        bar.enable_steady_tick(Duration::from_millis(120));
        ReadingLive { bar: Some(bar) }
    }
}

impl Drop for ReadingLive {
    fn drop(&mut self) {
        clear(self.bar.take());
    }
}

/// The plain line of one batch: `sent batch 2/5 (100 targets): 98 confirmed, 2 failed`.
/// A batch is "sent", never "applied": what the portal did is in the counts.
pub fn batch_line(done: usize, total: usize, s: &BatchSummary) -> String {
    let head = format!("batch {done}/{total} ({})", plural(s.targets, "target"));
    if s.not_sent == s.targets {
        return format!("{head} not sent: the request failed before the portal took it");
    }
    if s.unknown == s.targets {
        return format!("sent {head}: no answer, outcome unknown");
    }
    let mut parts = vec![format!("{} confirmed", s.confirmed)];
    if s.failed > 0 {
        parts.push(format!("{} failed", s.failed));
    }
    format!("sent {head}: {}", parts.join(", "))
}

/// The log writer (`tracing_subscriber`'s `MakeWriter`): stderr, one event per write,
/// with the progress bar suspended meanwhile.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

/// One log event, buffered and written to stderr when dropped.
#[derive(Debug)]
pub struct LogEvent(Vec<u8>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogEvent;

    fn make_writer(&'a self) -> LogEvent {
        LogEvent(Vec::new())
    }
}

impl Write for LogEvent {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LogEvent {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        // A whole event is one buffer, so no secret is split between two writes.
        let line = crate::untrusted::scrub_bytes(&self.0);
        let write = || {
            let mut err = io::stderr().lock();
            let _ = err.write_all(&line).and_then(|()| err.flush());
        };
        let bar = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_turns_progress_off() {
        assert_eq!(ProgressMode::choose(true), ProgressMode::Off);
    }

    #[test]
    fn batch_lines_say_sent_and_what_became_of_it() {
        let s = |confirmed, failed, unknown, not_sent| BatchSummary {
            targets: confirmed + failed + unknown + not_sent,
            confirmed,
            failed,
            unknown,
            not_sent,
        };
        assert_eq!(
            batch_line(2, 5, &s(100, 0, 0, 0)),
            "sent batch 2/5 (100 targets): 100 confirmed"
        );
        assert_eq!(
            batch_line(1, 1, &s(48, 2, 0, 0)),
            "sent batch 1/1 (50 targets): 48 confirmed, 2 failed"
        );
        assert_eq!(
            batch_line(3, 3, &s(0, 0, 1, 0)),
            "sent batch 3/3 (1 target): no answer, outcome unknown"
        );
        assert_eq!(
            batch_line(1, 2, &s(0, 0, 0, 50)),
            "batch 1/2 (50 targets) not sent: the request failed before the portal took it"
        );
    }

    #[test]
    fn plain_lines_mode_draws_no_bar() {
        // Lines mode writes to stderr; here only the bookkeeping is checked: no bar.
        let term = Terminal::new(true).with_progress(ProgressMode::Lines);
        let mut p = ApplyProgress::new(&term);
        p.started(2, 60);
        assert!(p.bar.is_none());
    }
}
