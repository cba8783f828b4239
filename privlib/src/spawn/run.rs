//! Starting the planned child: the fds it needs above every target, the
//! fork, the one exec let through, and the child's report.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use super::{Spawn, SpawnError};
use crate::sys::{CredOp, Linux, child, fds, pidfd, seccomp};

/// A started child.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    pidfd: OwnedFd,
}

impl Child {
    /// Its pid.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// A pidfd for it (for polling, adoption checks and signals).
    pub fn pidfd(&self) -> &OwnedFd {
        &self.pidfd
    }

    /// Waits for it to end and reaps it.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        pidfd::wait_pidfd(&self.pidfd).map(ExitStatus::from_raw)
    }

    /// Sends it a signal (through the pidfd: never hits a recycled pid).
    pub fn kill(&self, sig: i32) -> io::Result<()> {
        pidfd::pidfd_kill(&self.pidfd, sig)
    }

    /// Takes over a running process that is not our child (one a previous
    /// instance of a daemon started): its pidfd polls readable when it
    /// ends and signals it safely; [`Child::wait`] fails with ECHILD, as
    /// its parent reaps it. Check that `pid` is still the process meant
    /// (its start time, say) after this, not before: the pidfd pins it.
    pub fn adopt(pid: libc::pid_t) -> io::Result<Child> {
        Ok(Child {
            pid,
            pidfd: pidfd::pidfd_open(pid)?,
        })
    }
}

impl Spawn {
    /// Starts the program. Returns once it runs: the exec happened, so any
    /// error after this is the program's own.
    pub fn spawn(&self) -> Result<Child, SpawnError> {
        let name = self.program.to_string_lossy().into_owned();
        let setup = |step: &'static str| {
            let name = name.clone();
            move |source| SpawnError::Setup {
                program: name,
                step,
                source,
            }
        };
        let mut plan = self.plan(&Linux)?;
        // Our own fds in the child (error pipe, listener socket, Landlock
        // ruleset) must sit above every target, so that moving fds into
        // place never overwrites them.
        let floor = self
            .fds
            .iter()
            .map(|(f, t)| (*f).max(*t))
            .max()
            .unwrap_or(2)
            + 1;
        if let Some(rs) = &mut plan.ruleset {
            rs.move_above(floor).map_err(setup("dup"))?;
            let fd = rs.fd();
            for op in &mut plan.ops {
                if let CredOp::LandlockRestrict(old) = op {
                    *old = fd;
                }
            }
        }
        let (err_r, err_w_low) = fds::pipe().map_err(setup("pipe"))?;
        let err_w = fds::dup_above(err_w_low.as_raw_fd(), floor).map_err(setup("dup"))?;
        // Only the high copy may stay open: EOF on the pipe is the signal
        // that the exec happened.
        drop(err_w_low);
        let mut listener_pair = None;
        if plan.exec_once {
            let (ours, theirs_low) = fds::socketpair().map_err(setup("socketpair"))?;
            let theirs = fds::dup_above(theirs_low.as_raw_fd(), floor).map_err(setup("dup"))?;
            drop(theirs_low);
            for op in &mut plan.ops {
                if let CredOp::Seccomp {
                    listener_to: Some(fd),
                    ..
                } = op
                {
                    *fd = theirs.as_raw_fd();
                }
            }
            listener_pair = Some((ours, theirs));
        }
        // The one-shot exec needs the parent awake while the child waits in
        // execve for its answer, and a new user namespace needs a child
        // that shares no memory; every other spawn uses the cheaper vfork.
        let private_dev = plan.ops.iter().any(|o| matches!(o, CredOp::PrivateDev(_)));
        let kind = if plan.exec_once || private_dev {
            child::ChildKind::Fork
        } else {
            child::ChildKind::Vfork
        };
        let pid = child::fork_exec(&plan.ops, &plan.image, err_w.as_raw_fd(), kind)
            .map_err(setup("fork"))?;
        drop(err_w);
        drop(plan.ruleset.take());
        drop(plan.devnull.take());
        if let Some((ours, theirs)) = listener_pair {
            drop(theirs);
            let let_through = fds::recv_fd(ours.as_raw_fd())
                .map_err(setup("receive seccomp listener"))
                .and_then(|listener| match listener {
                    Some(l) => seccomp::allow_first_exec(l, pid, Duration::from_secs(30))
                        .map_err(setup("let exec through")),
                    None => Ok(()),
                });
            if let Err(e) = let_through {
                // Never leave a half-started child behind.
                child::kill_and_reap(pid);
                return Err(e);
            }
        }
        let report = child::read_child_error(&err_r).map_err(setup("read child status"))?;
        if let Some((step, errno)) = report {
            child::reap(pid);
            let step = plan.ops.get(step).map_or("execve", CredOp::step);
            return Err(SpawnError::Child {
                program: name,
                step,
                source: io::Error::from_raw_os_error(errno),
            });
        }
        let pidfd = pidfd::pidfd_open(pid).map_err(setup("pidfd_open"))?;
        Ok(Child { pid, pidfd })
    }
}
