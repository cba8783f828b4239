//! The fixtures of the hot-plug tests: images to attach (beneath the
//! stack's image directory, xvm's), and what the running Linux guest
//! sees, asked over its serial console: its block devices
//! (`/sys/block`), the first bytes of one, its network interfaces.
//!
//! The guest's answers are read from a line the typed command cannot
//! show itself: the command writes its marker split in two (`"b""locks:
//! "`), the shell prints it whole.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::hermetic::Hermetic;
use crate::stack::ConsoleGuest;
use crate::{Error, check};

/// How long the guest has to see a device come or go (it polls every
/// half second, in the guest: no timing is asserted).
pub const SETTLE_STEPS: u32 = 120;

/// A raw image of `size` bytes at `dir/name` that starts with `head`,
/// xvm's, mode 0600; its path.
pub fn raw_image(
    tree: &Hermetic,
    dir: &Path,
    name: &str,
    head: &[u8],
    size: usize,
) -> Result<PathBuf, Error> {
    let p = dir.join(name);
    let mut bytes = head.to_vec();
    bytes.resize(size.max(head.len()), 0);
    std::fs::write(&p, &bytes).map_err(Error::io("write", &p))?;
    tree.give_xvm(&p)?;
    crate::hermetic::set_mode(&p, 0o600)?;
    Ok(p)
}

/// The text after `marker` in `out` up to the end of its line.
fn after<'a>(out: &'a str, marker: &str) -> Option<&'a str> {
    let i = out.find(marker)? + marker.len();
    let rest = &out[i..];
    let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
    Some(rest[..end].trim())
}

/// Splits `marker` (ending in `: `) so the typed command does not show
/// it whole: `blocks: ` is typed `"b""locks: "`.
fn split(marker: &str) -> String {
    let (a, b) = marker.split_at(1);
    format!("\"{a}\"\"{b}\"")
}

/// Runs `command` in the guest and returns what it printed after
/// `marker` on its line (`command` prints `$M` where the marker goes).
pub fn ask(
    guest: &ConsoleGuest,
    marker: &str,
    command: &str,
    limit: Duration,
) -> Result<String, Error> {
    let line = command.replace("$M", &split(marker));
    let out = guest.run(&line, limit)?;
    let out = String::from_utf8_lossy(&out).into_owned();
    after(&out, marker)
        .map(str::to_string)
        .ok_or_else(|| Error::Check(format!("the guest printed no {marker:?}: {out:?}")))
}

/// The guest's block devices (`/sys/block`) once `dev` is there
/// (`present`) or gone, waiting in the guest for at most
/// [`SETTLE_STEPS`] half seconds; `limit` bounds the whole exchange.
pub fn blocks_once(
    guest: &ConsoleGuest,
    dev: &str,
    present: bool,
    limit: Duration,
) -> Result<Vec<String>, Error> {
    entries_once(guest, "/sys/block", "blocks: ", dev, present, limit)
}

/// The entries of the guest's directory `dir` once `dir`/`dev` is there
/// (`present`) or gone ([`settle`]), printed after `marker`.
fn entries_once(
    guest: &ConsoleGuest,
    dir: &str,
    marker: &str,
    dev: &str,
    present: bool,
    limit: Duration,
) -> Result<Vec<String>, Error> {
    let cmd = format!(
        "{}; echo $M$(ls {dir} | tr '\\n' ' ')",
        settle(&format!("{dir}/{dev}"), present)
    );
    let got = ask(guest, marker, &cmd, limit)?;
    Ok(got.split_whitespace().map(str::to_string).collect())
}

/// The shell's wait, in the guest, until `path` exists (`present`) or
/// not, at most [`SETTLE_STEPS`] half seconds.
fn settle(path: &str, present: bool) -> String {
    let test = if present { "-e" } else { "! -e" };
    format!(
        "i=0; while ! [ {test} {path} ] && [ $i -lt {SETTLE_STEPS} ]; do sleep 0.5; i=$((i+1)); done"
    )
}

/// The guest's network interfaces (`/sys/class/net`) once `dev` is there
/// (`present`) or gone.
pub fn interfaces_once(
    guest: &ConsoleGuest,
    dev: &str,
    present: bool,
    limit: Duration,
) -> Result<Vec<String>, Error> {
    entries_once(guest, "/sys/class/net", "nets: ", dev, present, limit)
}

/// Gives the guest's `dev` the address `addr` (`A.B.C.D/P`), up, and
/// pings `peer` from the guest (3 packets); whether all came back.
pub fn guest_pings(
    guest: &ConsoleGuest,
    dev: &str,
    addr: &str,
    peer: &str,
    limit: Duration,
) -> Result<bool, Error> {
    // The card's link comes up a while after `ip link set up` (the e1000
    // model negotiates; seconds under a loaded TCG): the pings wait for
    // its carrier, up to 30 s, rather than race it.
    let cmd = format!(
        "ip link set {dev} up; ip addr add {addr} dev {dev}; i=0; while [ \"$(cat /sys/class/net/{dev}/carrier 2>/dev/null)\" != 1 ] && [ $i -lt 30 ]; do sleep 1; i=$((i+1)); done; if ping -c 3 -W 5 {peer} >/dev/null 2>&1; then echo $Mall; else echo $Mlost; fi"
    );
    Ok(ask(guest, "ping: ", &cmd, limit)? == "all")
}

/// The first `n` bytes of the guest's `/dev/DEV`, as text.
pub fn head_of(
    guest: &ConsoleGuest,
    dev: &str,
    n: usize,
    limit: Duration,
) -> Result<String, Error> {
    ask(
        guest,
        "head: ",
        &format!("echo $M$(head -c {n} /dev/{dev})"),
        limit,
    )
}

/// Checks that `xm` failed with `needle` in its error.
pub fn refused(what: &str, r: &crate::stack::Xm, needle: &str) -> Result<(), Error> {
    check(
        r.code != 0 && r.err.contains(needle),
        format!(
            "{what}: want a refusal naming {needle:?}; exit {}: {}{}",
            r.code, r.out, r.err
        ),
    )
}
