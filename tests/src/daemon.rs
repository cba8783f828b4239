//! A daemon started by a test: stderr in a log file, ready when its log
//! says so or its socket answers, killed when dropped (on a failed check
//! too), and waiting with a deadline.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::Error;

/// How long a daemon may take to start on a loaded 2-core machine.
pub const START_LIMIT: Duration = Duration::from_secs(15);

/// A running daemon; SIGKILLed and reaped when dropped.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    name: String,
    log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` (stdin from /dev/null, stderr into `log`) as the daemon
    /// `name`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Daemon, Error> {
        let err = std::fs::File::create(log).map_err(Error::io("create", log))?;
        let child = cmd
            .stdin(Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|source| Error::Spawn {
                program: name.to_string(),
                source,
            })?;
        Ok(Daemon {
            child,
            name: name.to_string(),
            log: log.to_path_buf(),
        })
    }

    /// Waits until the daemon's log holds `line`; an error with the log
    /// when it ends first or takes longer than [`START_LIMIT`].
    pub fn ready_when_logged(mut self, line: &str) -> Result<Daemon, Error> {
        let t = Instant::now();
        while !self.log_text().contains(line) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Exited {
                    name: self.name.clone(),
                    status,
                    log: self.log_text(),
                });
            }
            if t.elapsed() > START_LIMIT {
                return Err(Error::Timeout {
                    what: format!(
                        "{} to log {line:?}; its log:\n{}",
                        self.name,
                        self.log_text()
                    ),
                    secs: START_LIMIT.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(self)
    }

    /// The daemon's pid.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(0)
    }

    /// Its log (stderr) so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Where its log is.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Whether it still runs (a zombie does not).
    pub fn alive(&self) -> bool {
        crate::procfs::runs(self.pid())
    }

    /// Ends it now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Ends it the way a service manager would: SIGTERM (so a restarter
    /// stops its services), SIGKILL if it has not ended within 10 s.
    pub fn terminate(&mut self) {
        let _ = self.stop(Duration::from_secs(10));
    }

    /// SIGTERM, then waits for the end at most `limit`; past that,
    /// SIGKILL and an error with the log.
    pub fn stop(&mut self, limit: Duration) -> Result<(), Error> {
        if let Ok(Some(_)) = self.child.try_wait() {
            return Ok(());
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        match self.wait_exit(limit) {
            Ok(_) => Ok(()),
            Err(_) => {
                self.kill();
                Err(Error::Timeout {
                    what: format!(
                        "{} to stop on SIGTERM; its log:\n{}",
                        self.name,
                        self.log_text()
                    ),
                    secs: limit.as_secs(),
                })
            }
        }
    }

    /// Waits for it to end by itself, at most `limit`; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Result<Option<i32>, Error> {
        let t = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Ok(st.code());
            }
            if t.elapsed() > limit {
                return Err(Error::Timeout {
                    what: format!("{} to exit", self.name),
                    secs: limit.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` until it gives `Ok(true)`, at most `limit`; `what` names the
/// wait in the error.
pub fn wait_until(
    limit: Duration,
    what: &str,
    mut f: impl FnMut() -> Result<bool, Error>,
) -> Result<(), Error> {
    let t = Instant::now();
    while !f()? {
        if t.elapsed() > limit {
            return Err(Error::Timeout {
                what: what.to_string(),
                secs: limit.as_secs(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Waits until a unix socket at `path` accepts a connection.
pub fn wait_for_socket(path: &Path, limit: Duration) -> Result<(), Error> {
    wait_until(limit, &format!("a server on {}", path.display()), || {
        Ok(UnixStream::connect(path).is_ok())
    })
}
