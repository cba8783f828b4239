//! A small `tracing` subscriber for the daemons: one line per event on
//! stderr, `LEVEL target: message key=value ...`, at or above a level.
//! (Lighter than tracing-subscriber, which the daemons do not otherwise need.)
//!
//! Audit lines are rate-limited per uid: every 0666 socket lets any local
//! user connect as often as he likes, and each connection is one audit
//! event, so without a bound any user (refused, or served and connecting
//! in a loop) could fill the disk that holds the daemons' logs. An event
//! about a uid that is a denial (`outcome=denied`) or a warning is
//! written for the first [`REFUSALS_PER_WINDOW`] of that uid in each
//! [`WINDOW`], a grant (`outcome=granted`) for the first
//! [`GRANTS_PER_WINDOW`]; the rest are counted, and the first line of the
//! same kind about that uid in a later window says how many were left
//! out. Every other event is always written.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::{Level, Metadata, Subscriber, field, span};

/// Refusal lines written per uid per [`WINDOW`].
pub const REFUSALS_PER_WINDOW: u32 = 20;
/// Grant lines written per uid per [`WINDOW`].
pub const GRANTS_PER_WINDOW: u32 = 200;
/// The rate limit's window.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Uids tracked at once; past that the oldest windows are forgotten.
const UIDS_TRACKED: usize = 4096;

/// What a rate-limited line is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Refusal,
    Grant,
}

impl Kind {
    fn limit(self) -> u32 {
        match self {
            Kind::Refusal => REFUSALS_PER_WINDOW,
            Kind::Grant => GRANTS_PER_WINDOW,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Refusal => "refusal",
            Kind::Grant => "grant",
        }
    }
}

#[derive(Debug)]
struct Window {
    start: Instant,
    written: u32,
    left_out: u64,
}

/// Writes events at or above its level to stderr.
#[derive(Debug, Clone)]
pub struct StderrLog {
    max: Level,
    windows: Arc<Mutex<HashMap<(u32, Kind), Window>>>,
    /// Where lines go instead of stderr (tests).
    sink: Option<Arc<Mutex<Vec<u8>>>>,
}

impl StderrLog {
    /// Logs at `max` and above (INFO: info, warn, error).
    pub fn new(max: Level) -> StderrLog {
        StderrLog {
            max,
            windows: Arc::new(Mutex::new(HashMap::new())),
            sink: None,
        }
    }

    /// Installs it as the process's subscriber (once; later calls do nothing).
    pub fn install(self) {
        let _ = tracing::subscriber::set_global_default(self);
    }

    /// Whether a refusal line about `uid` is written now; a line saying
    /// how many were left out in the window that just ended, if any.
    fn admit(&self, uid: u32, kind: Kind, now: Instant) -> (bool, Option<String>) {
        let mut w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if w.len() >= UIDS_TRACKED && !w.contains_key(&(uid, kind)) {
            w.retain(|_, win| now.duration_since(win.start) < WINDOW);
        }
        let win = w.entry((uid, kind)).or_insert(Window {
            start: now,
            written: 0,
            left_out: 0,
        });
        let mut summary = None;
        if now.duration_since(win.start) >= WINDOW {
            if win.left_out > 0 {
                summary = Some(format!(
                    "WARN xvm::log: {} more {} lines about uid {uid} left out (at most {} per {} s)\n",
                    win.left_out,
                    kind.name(),
                    kind.limit(),
                    WINDOW.as_secs()
                ));
            }
            *win = Window {
                start: now,
                written: 0,
                left_out: 0,
            };
        }
        if win.written < kind.limit() {
            win.written += 1;
            (true, summary)
        } else {
            win.left_out += 1;
            (false, summary)
        }
    }
}

#[derive(Default)]
struct Line {
    text: String,
    uid: Option<u32>,
    denied: bool,
    granted: bool,
}

impl Line {
    fn note(&mut self, name: &str, v: &str) {
        match name {
            "uid" => self.uid = v.parse().ok(),
            "outcome" => {
                self.denied = v == "denied";
                self.granted = v == "granted";
            }
            _ => {}
        }
    }
}

impl field::Visit for Line {
    fn record_debug(&mut self, f: &field::Field, v: &dyn std::fmt::Debug) {
        if f.name() == "message" {
            let _ = write!(self.text, " {v:?}");
        } else {
            let shown = format!("{v:?}");
            self.note(f.name(), shown.trim_matches('"'));
            let _ = write!(self.text, " {}={shown}", f.name());
        }
    }
    fn record_str(&mut self, f: &field::Field, v: &str) {
        if f.name() == "message" {
            let _ = write!(self.text, " {v}");
        } else {
            self.note(f.name(), v);
            let _ = write!(self.text, " {}={v}", f.name());
        }
    }
    fn record_u64(&mut self, f: &field::Field, v: u64) {
        self.note(f.name(), &v.to_string());
        let _ = write!(self.text, " {}={v}", f.name());
    }
    fn record_i64(&mut self, f: &field::Field, v: i64) {
        self.note(f.name(), &v.to_string());
        let _ = write!(self.text, " {}={v}", f.name());
    }
}

impl StderrLog {
    /// The lines an event comes to (none when it is rate-limited).
    fn lines(&self, e: &tracing::Event<'_>, now: Instant) -> String {
        let m = e.metadata();
        let mut line = Line {
            text: format!("{} {}:", m.level(), m.target()),
            ..Line::default()
        };
        e.record(&mut line);
        line.text.push('\n');
        let kind = if line.denied || *m.level() == Level::WARN {
            Some(Kind::Refusal)
        } else if line.granted {
            Some(Kind::Grant)
        } else {
            None
        };
        match (line.uid, kind) {
            (Some(uid), Some(kind)) => match self.admit(uid, kind, now) {
                (true, Some(summary)) => summary + &line.text,
                (true, None) => line.text,
                (false, summary) => summary.unwrap_or_default(),
            },
            _ => line.text,
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
        let text = self.lines(e, Instant::now());
        if text.is_empty() {
            return;
        }
        match &self.sink {
            Some(buf) => buf
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(text.as_bytes()),
            None => {
                let _ = std::io::stderr().write_all(text.as_bytes());
            }
        }
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_one_uid_are_bounded_per_window_and_summed_up() {
        let log = StderrLog::new(Level::INFO);
        let t0 = Instant::now();
        let written = (0..1000)
            .filter(|_| log.admit(1234, Kind::Refusal, t0).0)
            .count();
        assert_eq!(
            written,
            usize::try_from(REFUSALS_PER_WINDOW).expect("small")
        );
        // Another uid has a window of its own.
        assert!(log.admit(99, Kind::Refusal, t0).0);
        // The next window: written again, with the count of what was left out.
        let (ok, summary) = log.admit(1234, Kind::Refusal, t0 + WINDOW);
        assert!(ok);
        let summary = summary.expect("a summary");
        assert!(
            summary
                .contains("980 more refusal lines about uid 1234 left out (at most 20 per 10 s)"),
            "{summary}"
        );
        assert!(log.admit(1234, Kind::Refusal, t0 + WINDOW).1.is_none());
    }

    #[test]
    fn floods_of_denials_and_of_grants_are_cut_each_on_its_own() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let log = StderrLog {
            sink: Some(Arc::clone(&buf)),
            ..StderrLog::new(Level::INFO)
        };
        let _guard = tracing::subscriber::set_default(log);
        for _ in 0..500 {
            tracing::info!(target: "xvm::audit", uid = 7u32, outcome = "denied", "denied");
        }
        for _ in 0..1000 {
            tracing::info!(target: "xvm::audit", uid = 7u32, outcome = "granted", "granted");
        }
        for _ in 0..1000 {
            tracing::info!(target: "xvm", uid = 7u32, "neither");
        }
        tracing::info!(target: "xvm::audit", uid = 8u32, outcome = "denied", "denied");
        let text = String::from_utf8(buf.lock().expect("lock").clone()).expect("utf-8");
        let count = |what: &str| text.lines().filter(|l| l.contains(what)).count();
        assert_eq!(
            count("uid=7 outcome=denied"),
            usize::try_from(REFUSALS_PER_WINDOW).expect("small")
        );
        assert_eq!(
            count("uid=7 outcome=granted"),
            usize::try_from(GRANTS_PER_WINDOW).expect("small")
        );
        assert_eq!(count("neither"), 1000, "other events are never held back");
        assert_eq!(count("uid=8 outcome=denied"), 1);
    }
}
