//! A small `tracing` subscriber for the daemons: one line per event on
//! stderr, `LEVEL target: message key=value ...`, at or above a level.
//! (Lighter than tracing-subscriber, which the daemons do not otherwise need.)

use std::fmt::Write as _;
use std::io::Write as _;

use tracing::{Level, Metadata, Subscriber, field, span};

/// Writes events at or above its level to stderr.
#[derive(Debug, Clone, Copy)]
pub struct StderrLog {
    max: Level,
}

impl StderrLog {
    /// Logs at `max` and above (INFO: info, warn, error).
    pub fn new(max: Level) -> StderrLog {
        StderrLog { max }
    }

    /// Installs it as the process's subscriber (once; later calls do nothing).
    pub fn install(self) {
        let _ = tracing::subscriber::set_global_default(self);
    }
}

struct Line(String);

impl field::Visit for Line {
    fn record_debug(&mut self, f: &field::Field, v: &dyn std::fmt::Debug) {
        if f.name() == "message" {
            let _ = write!(self.0, " {v:?}");
        } else {
            let _ = write!(self.0, " {}={v:?}", f.name());
        }
    }
    fn record_str(&mut self, f: &field::Field, v: &str) {
        if f.name() == "message" {
            let _ = write!(self.0, " {v}");
        } else {
            let _ = write!(self.0, " {}={v}", f.name());
        }
    }
}

impl Subscriber for StderrLog {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        *m.level() <= self.max
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        let m = e.metadata();
        let mut line = Line(format!("{} {}:", m.level(), m.target()));
        e.record(&mut line);
        line.0.push('\n');
        let _ = std::io::stderr().write_all(line.0.as_bytes());
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}
