//! The fixture of virtd's daemon tests: a hermetic tree (its accounts and
//! policy), virtd started in system mode over it with no xend (the
//! procedures of the connection need none), and a libvirt client that
//! writes and reads the protocol's bytes by hand, so the tests check the
//! wire as virsh sees it, not virtd's own codec.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use xvm_tests::{Accounts, Daemon, Error, Hermetic};

/// How long anything virtd does may take on a loaded machine.
pub(crate) const LIMIT: Duration = Duration::from_secs(20);

/// libvirt's remote program.
pub(crate) const REMOTE: u32 = 0x2000_8086;
/// The keepalive program.
pub(crate) const KEEPALIVE: u32 = 0x6b65_6570;
/// Packet types.
pub(crate) const CALL: i32 = 0;
pub(crate) const REPLY: i32 = 1;
pub(crate) const MESSAGE: i32 = 2;
/// Statuses.
pub(crate) const OK: i32 = 0;
pub(crate) const ERROR: i32 = 1;

/// A failure of `what` as the test's error.
pub(crate) fn ck<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> Result<T, Error> {
    r.map_err(|e| Error::Check(format!("{what}: {e}")))
}

/// The tree and its virtd.
pub(crate) struct Fixture {
    /// virtd (dropped first).
    pub(crate) virtd: Daemon,
    /// The tree (dropped last).
    pub(crate) tree: Hermetic,
}

impl Fixture {
    /// A tree named `name`, accounts from `base`, and virtd started as
    /// root in system mode (it becomes xvm itself).
    pub(crate) fn new(name: &str, base: u32) -> Result<Fixture, Error> {
        let tree = Hermetic::new(name, Accounts::from_base(base))?;
        tree.lay_out_xvm_dirs()?;
        let mut cmd = tree.command(Path::new(env!("CARGO_BIN_EXE_virtd")));
        cmd.arg("--system");
        let virtd = Daemon::spawn("virtd", cmd, &tree.base().join("virtd.log"))?
            .ready_when_logged("virtd serving")?;
        tree.reap_at_end(virtd.pid());
        Ok(Fixture { virtd, tree })
    }

    /// The read-write socket.
    pub(crate) fn sock(&self) -> PathBuf {
        self.tree.root().join("run/libvirt/libvirt-sock")
    }

    /// The read-only socket.
    pub(crate) fn sock_ro(&self) -> PathBuf {
        self.tree.root().join("run/libvirt/libvirt-sock-ro")
    }

    /// virtd's log so far.
    pub(crate) fn log(&self) -> String {
        self.virtd.log_text()
    }
}

/// A decoded packet.
#[derive(Debug)]
pub(crate) struct Got {
    pub(crate) prog: u32,
    pub(crate) proc_: i32,
    pub(crate) kind: i32,
    pub(crate) serial: u32,
    pub(crate) status: i32,
    pub(crate) body: Vec<u8>,
}

impl Got {
    /// The `remote_error` of an error reply: code and message.
    pub(crate) fn error(&self) -> (i32, String) {
        let b = &self.body;
        if self.status != ERROR || b.len() < 16 {
            return (0, String::new());
        }
        let word = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let code = word(0).cast_signed();
        // code, domain, then remote_string message: present flag, length.
        let len = usize::try_from(word(12)).unwrap_or(0);
        let msg = b
            .get(16..16 + len)
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .unwrap_or_default();
        (code, msg)
    }

    /// The reply's body as one `int`.
    pub(crate) fn int(&self) -> Option<i32> {
        (self.body.len() == 4)
            .then(|| i32::from_be_bytes([self.body[0], self.body[1], self.body[2], self.body[3]]))
    }

    /// The reply's body as one string.
    pub(crate) fn string(&self) -> Option<String> {
        let b = &self.body;
        let len = usize::try_from(u32::from_be_bytes(b.get(..4)?.try_into().ok()?)).ok()?;
        b.get(4..4 + len)
            .map(|s| String::from_utf8_lossy(s).into_owned())
    }
}

/// XDR by hand: big-endian words.
pub(crate) fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// An XDR string: its length, its bytes, padding.
pub(crate) fn xdr_string(s: &str) -> Vec<u8> {
    let mut b = words(&[u32::try_from(s.len()).unwrap_or(0)]);
    b.extend_from_slice(s.as_bytes());
    b.resize(b.len().div_ceil(4) * 4, 0);
    b
}

/// A packet's bytes: length word, header, body.
pub(crate) fn packet(prog: u32, proc_: i32, kind: i32, serial: u32, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(28 + body.len()).unwrap_or(u32::MAX);
    let mut b = words(&[
        len,
        prog,
        1,
        proc_.cast_unsigned(),
        kind.cast_unsigned(),
        serial,
        0,
    ]);
    b.extend_from_slice(body);
    b
}

/// `CONNECT_OPEN`'s arguments: a present name, flags.
pub(crate) fn open_args(name: &str, flags: u32) -> Vec<u8> {
    let mut b = words(&[1]);
    b.extend(xdr_string(name));
    b.extend(words(&[flags]));
    b
}

/// A client connection speaking bytes.
pub(crate) struct Client {
    pub(crate) s: UnixStream,
    serial: u32,
}

impl Client {
    /// Connects to `path`.
    pub(crate) fn connect(path: &Path) -> std::io::Result<Client> {
        let s = UnixStream::connect(path)?;
        s.set_read_timeout(Some(LIMIT))?;
        s.set_write_timeout(Some(LIMIT))?;
        Ok(Client { s, serial: 0 })
    }

    /// Sends raw bytes.
    pub(crate) fn send(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.s.write_all(b)
    }

    /// Reads one packet (`Ok(None)`: closed).
    pub(crate) fn read(&mut self) -> std::io::Result<Option<Got>> {
        let mut w = [0u8; 4];
        match self.s.read(&mut w[..1]) {
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(None),
            Err(e) => return Err(e),
        }
        self.s.read_exact(&mut w[1..])?;
        let len = usize::try_from(u32::from_be_bytes(w)).unwrap_or(0);
        if !(28..=(1 << 20)).contains(&len) {
            return Err(std::io::Error::other(format!("a reply of length {len}")));
        }
        let mut rest = vec![0u8; len - 4];
        self.s.read_exact(&mut rest)?;
        let word =
            |at: usize| u32::from_be_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]);
        Ok(Some(Got {
            prog: word(0),
            proc_: word(8).cast_signed(),
            kind: word(12).cast_signed(),
            serial: word(16),
            status: word(20).cast_signed(),
            body: rest[24..].to_vec(),
        }))
    }

    /// Calls `proc_` of `prog` with `body`; its reply (keepalive messages
    /// virtd sends meanwhile skipped).
    pub(crate) fn call_prog(&mut self, prog: u32, proc_: i32, body: &[u8]) -> Result<Got, Error> {
        self.serial += 1;
        let serial = self.serial;
        ck(
            self.send(&packet(prog, proc_, CALL, serial, body)),
            "sending a call",
        )?;
        loop {
            let got = ck(self.read(), "reading the reply")?
                .ok_or_else(|| Error::Check(format!("closed instead of answering proc {proc_}")))?;
            if got.kind == MESSAGE && got.prog == KEEPALIVE {
                continue;
            }
            if got.serial != serial || got.proc_ != proc_ || got.kind != REPLY {
                return Err(Error::Check(format!(
                    "the reply to {proc_}#{serial}: {got:?}"
                )));
            }
            return Ok(got);
        }
    }

    /// Calls `proc_` of the remote program.
    pub(crate) fn call(&mut self, proc_: i32, body: &[u8]) -> Result<Got, Error> {
        self.call_prog(REMOTE, proc_, body)
    }

    /// virsh's open sequence: AUTH_LIST, keepalive asked, CONNECT_OPEN
    /// of `xen:///system` with `flags`.
    pub(crate) fn open(&mut self, flags: u32) -> Result<(), Error> {
        let a = self.call(66, &[])?;
        xvm_tests::check(
            a.status == OK && a.body == words(&[1, 0]),
            format!("AUTH_LIST: {a:?}"),
        )?;
        let k = self.call(60, &words(&[10]))?;
        xvm_tests::check(k.int() == Some(1), format!("keepalive feature: {k:?}"))?;
        let o = self.call(1, &open_args("xen:///system", flags))?;
        xvm_tests::check(o.status == OK, format!("CONNECT_OPEN: {:?}", o.error()))
    }
}

/// Whether the connection was closed by virtd (within [`LIMIT`]).
pub(crate) fn closed(c: &mut Client) -> bool {
    let mut b = [0u8; 4096];
    loop {
        match c.s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}
