//! What every command gets: the ZeroMQ context, the stop flag set by Ctrl-C / SIGTERM, and
//! the stderr reporter.

use std::fmt::Display;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};

use crate::error::{CliError, Result};

/// The status of a process stopped by a second Ctrl-C / SIGTERM while it was still finishing.
pub const EXIT_FORCED: i32 = 130;

/// The shared state of one run.
pub struct Ctx {
    /// The ZeroMQ context of every socket of the run.
    pub zmq: zmq::Context,
    stop: Arc<AtomicBool>,
    quiet: bool,
}

impl Ctx {
    /// Creates the context and installs the SIGINT / SIGTERM handlers: the first signal asks
    /// the running command to stop cleanly (exit status 0), a second one exits at once.
    pub fn new(quiet: bool) -> Result<Ctx> {
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            // Order matters: the shutdown handler sees the flag of the previous signal.
            signal_hook::flag::register_conditional_shutdown(
                signal,
                EXIT_FORCED,
                Arc::clone(&stop),
            )
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .map_err(|e| CliError::runtime(format!("cannot install signal handler: {e}")))?;
        }
        Ok(Ctx {
            zmq: zmq::Context::new(),
            stop,
            quiet,
        })
    }

    /// Whether Ctrl-C / SIGTERM asked the command to stop.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Prints an informational line on stderr, unless `--quiet`.
    pub fn info(&self, message: impl Display) {
        if !self.quiet {
            eprintln!("experimance: {message}");
        }
    }

    /// Prints a warning on stderr, even with `--quiet`.
    pub fn warn(&self, message: impl Display) {
        eprintln!("experimance: warning: {message}");
    }

    /// Sleeps until `until`, waking every tick to honour a stop request. Returns `false` when
    /// a stop was requested.
    pub fn sleep_until(&self, until: Instant) -> bool {
        loop {
            if self.stopped() {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            std::thread::sleep((until - now).min(TICK));
        }
    }
}

/// How often blocking waits wake up to check the stop flag.
pub const TICK: Duration = Duration::from_millis(100);

/// Line-oriented output on stdout or into a file, flushed after every line. A closed pipe
/// (`| head`) ends the command cleanly.
pub struct Out {
    writer: Box<dyn Write>,
    what: String,
}

impl Out {
    /// Standard output.
    pub fn stdout() -> Out {
        Out {
            writer: Box::new(io::stdout()),
            what: "standard output".to_owned(),
        }
    }

    /// A file (or standard output for `-`), created or truncated. A file that cannot be
    /// created is bad input.
    pub fn create(path: &str) -> Result<Out> {
        if path == "-" {
            return Ok(Out::stdout());
        }
        let file = std::fs::File::create(path)
            .map_err(|e| CliError::usage(format!("cannot create `{path}`: {e}")))?;
        Ok(Out {
            writer: Box::new(io::BufWriter::new(file)),
            what: format!("`{path}`"),
        })
    }

    /// Writes `line` and a newline, then flushes.
    pub fn line(&mut self, line: &str) -> Result<()> {
        self.raw(&format!("{line}\n"))
    }

    /// Writes `text` as is (no newline added), then flushes.
    pub fn raw(&mut self, text: &str) -> Result<()> {
        let result = self
            .writer
            .write_all(text.as_bytes())
            .and_then(|()| self.writer.flush());
        result.map_err(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                CliError::Closed
            } else {
                CliError::runtime(format!("cannot write to {}: {e}", self.what))
            }
        })
    }
}

/// Draws a table of `lines`: in place on a terminal (`live`: home, each line cleared to its
/// end, then the rest of the screen cleared), else one table after the other.
pub fn draw(out: &mut Out, lines: &[String], live: bool) -> Result<()> {
    if live {
        let mut text = String::from("\x1b[H");
        for line in lines {
            text.push_str(line);
            text.push_str("\x1b[K\n");
        }
        text.push_str("\x1b[J");
        out.raw(&text)
    } else {
        out.raw(&(lines.join("\n") + "\n\n"))
    }
}
