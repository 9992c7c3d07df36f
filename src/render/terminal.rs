//! The process's terminal: where text goes (plans and data to stdout, messages to stderr),
//! whether it may be coloured, and the confirmation prompt.
//!
//! Colour is decided by anstream (which honours `NO_COLOR`, `CLICOLOR`, `CLICOLOR_FORCE`
//! and whether the stream is a terminal) unless `--no-color` turns it off. `NO_COLOR` wins
//! over `CLICOLOR_FORCE` (anstream's order): asking for no colour is never overridden.

use std::io::{self, BufRead, IsTerminal, Write};

use anstream::ColorChoice;

/// Output streams with their colour decisions.
#[derive(Debug, Clone, Copy)]
pub struct Terminal {
    color_stdout: bool,
    color_stderr: bool,
    progress: ProgressMode,
    /// Writes nothing (tests and benchmarks running commands in-process).
    silent: bool,
    /// Messages on stderr are JSON objects, one a line, like the logs (`--log-format json`).
    json_messages: bool,
}

impl Terminal {
    pub fn new(no_color: bool) -> Terminal {
        let allowed = |choice: ColorChoice| !no_color && choice != ColorChoice::Never;
        Terminal {
            color_stdout: allowed(anstream::AutoStream::choice(&io::stdout())),
            color_stderr: allowed(anstream::AutoStream::choice(&io::stderr())),
            progress: ProgressMode::Off,
            silent: false,
            json_messages: false,
        }
    }

    /// Messages on stderr as JSON objects, one a line (`--log-format json`), so that a
    /// log collector reads every line of stderr.
    pub fn with_json_messages(mut self, json: bool) -> Terminal {
        self.json_messages = json;
        self
    }

    /// A terminal that shows nothing and asks nobody: for running commands in-process
    /// (tests, benchmarks). Not interactive, never coloured, no progress.
    pub fn silent() -> Terminal {
        Terminal {
            color_stdout: false,
            color_stderr: false,
            progress: ProgressMode::Off,
            silent: true,
            json_messages: false,
        }
    }

    /// Sets how progress is shown (off unless set; see [`ProgressMode::choose`]).
    pub fn with_progress(mut self, progress: ProgressMode) -> Terminal {
        self.progress = progress;
        self
    }

    pub fn progress(&self) -> ProgressMode {
        self.progress
    }

    pub fn color_stdout(&self) -> bool {
        self.color_stdout
    }

    pub fn color_stderr(&self) -> bool {
        self.color_stderr
    }

    /// Writes to stdout; a closed pipe (`paysync plan | head`) is not an error. Any secret
    /// paysync holds is scrubbed first (a last line of defence: see [`crate::untrusted`]).
    pub fn out(&self, text: &str) {
        if self.silent {
            return;
        }
        let text = crate::untrusted::scrub(text);
        let mut out = io::stdout().lock();
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }

    /// Writes to stderr, scrubbed like [`Terminal::out`].
    pub fn err(&self, text: &str) {
        if self.silent {
            return;
        }
        let text = crate::untrusted::scrub(text);
        let mut err = io::stderr().lock();
        let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
    }

    /// A message for stderr at `level` (`ERROR`, `WARN`, `INFO`): the text as it is, or
    /// with JSON messages one object `{"timestamp", "level", "message", ...fields}` on one
    /// line, the shape of the JSON logs.
    pub fn message(&self, level: &str, text: &str, fields: serde_json::Value) {
        if !self.json_messages {
            self.err(text);
            return;
        }
        self.err(&super::json_line(level, text, fields));
    }

    pub fn json_messages(&self) -> bool {
        self.json_messages
    }

    /// Whether a person can answer a prompt.
    pub fn interactive(&self) -> bool {
        !self.silent && io::stdin().is_terminal()
    }

    /// Asks on stderr; only `yes` approves. SIGINT or SIGTERM while waiting for the
    /// answer (see [`crate::interrupt`]) is a "no".
    pub fn confirm(&self, question: &str) -> io::Result<bool> {
        self.err(&format!(
            "{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: "
        ));
        // The answer is read on a thread of its own, so the wait can end with a signal.
        let (send, answer) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = io::stdin().lock().read_line(&mut line).map(|_| line);
            let _ = send.send(read);
        });
        loop {
            match answer.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(line) => return Ok(line?.trim() == "yes"),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if crate::interrupt::received().is_some() {
                        self.err("\n");
                        return Ok(false);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(false),
            }
        }
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Off,
    Lines,
    Bar,
}

impl ProgressMode {
    /// Off with `-q`; a bar when stderr is a terminal; otherwise plain lines (JSON
    /// objects when the logs are JSON: see [`Terminal::message`]).
    pub fn choose(quiet: bool) -> ProgressMode {
        if quiet {
            ProgressMode::Off
        } else if io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        }
    }
}
