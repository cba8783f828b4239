//! The relocation tests' fixtures: two hosts as two network namespaces
//! joined by a veth pair (the addresses exist inside them only), a test
//! CA and the hosts' certificates made with openssl, and `xvm-relocd`
//! started in a host's namespace over its stack's tree.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bins::bin;
use crate::daemon::Daemon;
use crate::error::{Error, check};
use crate::guest::{LINUX_CMDLINE, LinuxGuest};
use crate::hermetic::{Accounts, Hermetic, set_mode};
use crate::stack::Stack;

/// The relocation port the servers listen on.
pub const PORT: u16 = 8002;

/// The second host's accounts: the same xvm (its shared storage is
/// xvm's on both, as uids agree on hosts that share storage), its own
/// device-model uids.
pub const fn second(a: Accounts) -> Accounts {
    Accounts {
        dm_base: a.dm_base + 100,
        ..a
    }
}
/// Two hosts with their stacks and relocation servers.
pub struct Hosts {
    /// relocd_a.
    pub relocd_a: Daemon,
    /// relocd_b.
    pub relocd_b: Daemon,
    /// a.
    pub a: Stack,
    /// b.
    pub b: Stack,
    /// ids.
    pub ids: Accounts,
    /// ca.
    pub ca: Ca,
    /// other_ca.
    pub other_ca: Ca,
    /// a_cert.
    pub a_cert: Cert,
    /// b_cert.
    pub b_cert: Cert,
    /// images.
    pub images: PathBuf,
    /// shared.
    pub shared: PathBuf,
    /// pair.
    pub pair: HostPair,
}

impl Drop for Hosts {
    fn drop(&mut self) {
        self.relocd_a.kill();
        self.relocd_b.kill();
        let _ = std::fs::remove_dir_all(&self.shared);
    }
}

impl Hosts {
    /// Both hosts, `prefix` naming their namespaces and trees, in
    /// 10.77.`net`.0/24; xend with `accel`; `image` the boot sector of
    /// each stack's own test config.
    pub fn new(
        prefix: &str,
        net: u8,
        ids: Accounts,
        accel: &str,
        image: &[u8],
    ) -> Result<Hosts, Error> {
        let pair = HostPair::new(prefix, net)?;
        let shared =
            std::env::temp_dir().join(format!("xvm-{prefix}-shared-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&shared);
        let images = shared.join("images");
        std::fs::create_dir_all(&images).map_err(Error::io("create", &images))?;
        set_mode(&shared, 0o755)?;
        let mut stacks = Vec::new();
        for (host, ns, accounts) in [("a", &pair.a, ids), ("b", &pair.b, second(ids))] {
            let mut tree = Hermetic::new(&format!("{prefix}-{host}"), accounts)?;
            tree.set_netns(&HostPair::path(ns));
            if host == "a" {
                tree.give_xvm(&images)?;
                set_mode(&images, 0o700)?;
            }
            let storage = tree
                .root()
                .join("var/lib/xend/storage")
                .display()
                .to_string();
            let shared_images = images.display().to_string();
            let args = [
                "--feature-relocation",
                "on",
                "--accel",
                accel,
                "--image-dir",
                &storage,
                "--image-dir",
                &shared_images,
            ];
            let mut s = Stack::start_in(tree, image, &args)?;
            s.start_xenconsoled("xenconsoled.log", &["--log=guest"])?;
            stacks.push(s);
        }
        let b = stacks
            .pop()
            .ok_or_else(|| Error::Check("no stack b".into()))?;
        let a = stacks
            .pop()
            .ok_or_else(|| Error::Check("no stack a".into()))?;
        let pki = shared.join("pki");
        std::fs::create_dir_all(&pki).map_err(Error::io("create", &pki))?;
        set_mode(&pki, 0o700)?;
        let ca = Ca::new(&pki, "xvm")?;
        let other_ca = Ca::new(&pki, "other")?;
        let a_cert = ca.issue("a", &[&format!("IP:{}", pair.a_ip())])?;
        let b_cert = ca.issue("b", &[&format!("IP:{}", pair.b_ip()), "DNS:b.xvm.test"])?;
        let relocd_a = start_relocd(
            &a.tree,
            "relocd.log",
            &format!("{}:{PORT}", pair.a_ip()),
            &a_cert,
            &ca.cert,
            &[&pair.b_ip()],
        )?;
        let relocd_b = start_relocd(
            &b.tree,
            "relocd.log",
            &format!("{}:{PORT}", pair.b_ip()),
            &b_cert,
            &ca.cert,
            &[&pair.a_ip()],
        )?;
        Ok(Hosts {
            relocd_a,
            relocd_b,
            a,
            b,
            ids,
            ca,
            other_ca,
            a_cert,
            b_cert,
            images,
            shared,
            pair,
        })
    }

    /// Host a (`true`) or b restarts its relocation server with `cert`,
    /// the CA file `ca` and `allow`, its log `log`.
    pub fn restart(
        &mut self,
        a: bool,
        log: &str,
        cert: &Cert,
        ca: &Path,
        allow: &[&str],
    ) -> Result<(), Error> {
        let (ip, stack, d) = if a {
            (self.pair.a_ip(), &self.a, &mut self.relocd_a)
        } else {
            (self.pair.b_ip(), &self.b, &mut self.relocd_b)
        };
        d.kill();
        *d = start_relocd(&stack.tree, log, &format!("{ip}:{PORT}"), cert, ca, allow)?;
        Ok(())
    }

    /// Both servers as [`Hosts::new`] started them.
    pub fn restore(&mut self, n: u32) -> Result<(), Error> {
        let (a_cert, b_cert, ca) = (
            self.a_cert.clone(),
            self.b_cert.clone(),
            self.ca.cert.clone(),
        );
        let (a_ip, b_ip) = (self.pair.a_ip(), self.pair.b_ip());
        self.restart(true, &format!("relocd-{n}.log"), &a_cert, &ca, &[&b_ip])?;
        self.restart(false, &format!("relocd-{n}.log"), &b_cert, &ca, &[&a_ip])
    }

    /// The device-model uid base of host `a` (`true`) or `b`.
    pub fn dm_base(&self, a: bool) -> u32 {
        if a {
            self.ids.dm_base
        } else {
            second(self.ids).dm_base
        }
    }
}

/// The Linux guest's config on the shared images, with no TCP serial or
/// VNC (each host would take the same ports).
pub fn linux_config(h: &Hosts, linux: &LinuxGuest, name: &str) -> Result<PathBuf, Error> {
    let mut files = Vec::new();
    for (src, file) in [(&linux.kernel, "vmlinuz"), (&linux.initrd, "initrd.gz")] {
        let dst = h.images.join(format!("{name}-{file}"));
        std::fs::copy(src, &dst).map_err(Error::io("copy to", &dst))?;
        h.a.tree.give_xvm(&dst)?;
        set_mode(&dst, 0o644)?;
        files.push(dst);
    }
    let cfg = h.a.tree.base().join(format!("{name}.cfg"));
    let text = format!(
        "name = \"{name}\"\ntype = \"hvm\"\nmemory = 128\nvcpus = 1\nkernel = \"{}\"\nramdisk = \"{}\"\ncmdline = \"{LINUX_CMDLINE}\"\nserial = \"pty\"\n",
        files[0].display(),
        files[1].display()
    );
    std::fs::write(&cfg, text).map_err(Error::io("write", &cfg))?;
    set_mode(&cfg, 0o644)?;
    Ok(cfg)
}

/// Runs `program args`, checked; its stdout.
fn run(program: &str, args: &[&str]) -> Result<String, Error> {
    let o = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| Error::Spawn {
            program: program.into(),
            source,
        })?;
    check(
        o.status.success(),
        format!(
            "{program} {}: {}\n{}",
            args.join(" "),
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
    )?;
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Two hosts: network namespaces `/run/netns/<prefix>a-PID` and
/// `...b-PID`, joined by a veth pair, `a` at [`HostPair::A_IP`] and `b` at
/// [`HostPair::B_IP`]. Dropped: both namespaces go (and the pair with
/// them).
#[derive(Debug)]
pub struct HostPair {
    /// The first host's namespace name.
    pub a: String,
    /// The second's.
    pub b: String,
    /// The subnet's third octet (10.77.N.0/24).
    pub net: u8,
}

impl HostPair {
    /// The first host's address in subnet `net`.
    pub fn a_ip(&self) -> String {
        format!("10.77.{}.1", self.net)
    }

    /// The second host's address.
    pub fn b_ip(&self) -> String {
        format!("10.77.{}.2", self.net)
    }

    /// Makes the pair (`prefix` short: interface names are at most 15
    /// bytes), in subnet 10.77.`net`.0/24.
    pub fn new(prefix: &str, net: u8) -> Result<HostPair, Error> {
        let pid = std::process::id();
        let pair = HostPair {
            a: format!("{prefix}a-{pid}"),
            b: format!("{prefix}b-{pid}"),
            net,
        };
        for ns in [&pair.a, &pair.b] {
            let _ = run("ip", &["netns", "del", ns]);
            run("ip", &["netns", "add", ns])?;
        }
        let (va, vb) = (format!("{prefix}va{net}"), format!("{prefix}vb{net}"));
        run(
            "ip",
            &[
                "link", "add", &va, "netns", &pair.a, "type", "veth", "peer", "name", &vb, "netns",
                &pair.b,
            ],
        )?;
        for (ns, dev, ip) in [(&pair.a, &va, pair.a_ip()), (&pair.b, &vb, pair.b_ip())] {
            run(
                "ip",
                &["-n", ns, "addr", "add", &format!("{ip}/24"), "dev", dev],
            )?;
            run("ip", &["-n", ns, "link", "set", dev, "up"])?;
            run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(pair)
    }

    /// The path of host `ns`'s namespace.
    pub fn path(ns: &str) -> PathBuf {
        Path::new("/run/netns").join(ns)
    }

    /// A command run in host `ns`'s namespace.
    pub fn command(ns: &str, program: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", HostPair::path(ns).display()))
            .arg("--")
            .arg(program);
        c
    }
}

impl Drop for HostPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = run("ip", &["netns", "del", ns]);
        }
    }
}

/// Runs `f` on a thread that entered host `ns`'s network namespace (a
/// socket keeps the namespace it was made in, so what `f` connects can
/// be used from any thread after).
pub fn in_host<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
    use std::os::fd::AsRawFd as _;
    let path = HostPair::path(ns);
    let file = std::fs::File::open(&path).map_err(Error::io("open", &path))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns on an open namespace fd changes only this
            // thread's network namespace.
            let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if r != 0 {
                return Err(Error::io("setns", &path)(std::io::Error::last_os_error()));
            }
            Ok(f())
        })
        .join()
        .map_err(|_| Error::Check(format!("a thread in {ns} panicked")))?
    })
}

/// A certificate and its key, as files.
#[derive(Clone, Debug)]
pub struct Cert {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its key (PEM, PKCS#8), root's, 0600.
    pub key: PathBuf,
}

/// A test CA in `dir`.
#[derive(Clone, Debug)]
pub struct Ca {
    dir: PathBuf,
    name: String,
    /// The CA's certificate.
    pub cert: PathBuf,
    key: PathBuf,
}

impl Ca {
    /// A new CA named `name` (its files `dir/NAME-ca.pem` and `.key`).
    pub fn new(dir: &Path, name: &str) -> Result<Ca, Error> {
        std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
        let cert = dir.join(format!("{name}-ca.pem"));
        let key = dir.join(format!("{name}-ca.key"));
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name} test CA"),
                "-keyout",
                &key.display().to_string(),
                "-out",
                &cert.display().to_string(),
            ],
        )?;
        Ok(Ca {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            cert,
            key,
        })
    }

    /// A host certificate `host` from this CA, valid for `sans`
    /// (`IP:10.77.0.1`, `DNS:host.test`), for TLS servers and clients.
    pub fn issue(&self, host: &str, sans: &[&str]) -> Result<Cert, Error> {
        let base = self.dir.join(format!("{}-{host}", self.name));
        let (key, csr, cert, ext) = (
            base.with_extension("key"),
            base.with_extension("csr"),
            base.with_extension("pem"),
            base.with_extension("ext"),
        );
        let mut text = String::from(
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
        );
        if !sans.is_empty() {
            text.push_str(&format!("subjectAltName={}\n", sans.join(",")));
        }
        std::fs::write(&ext, text).map_err(Error::io("write", &ext))?;
        run(
            "openssl",
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                &format!("/CN={host}"),
                "-keyout",
                &key.display().to_string(),
                "-out",
                &csr.display().to_string(),
            ],
        )?;
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr.display().to_string(),
                "-CA",
                &self.cert.display().to_string(),
                "-CAkey",
                &self.key.display().to_string(),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext.display().to_string(),
                "-out",
                &cert.display().to_string(),
            ],
        )?;
        set_mode(&key, 0o600)?;
        Ok(Cert { cert, key })
    }
}

/// `xvm-relocd --system` over `tree` (in its network namespace, when it
/// has one), listening on `listen`, with `cert`, the CA `ca` and the
/// allowed names `allow`; its log `log` under the tree's base; ready.
pub fn start_relocd(
    tree: &Hermetic,
    log: &str,
    listen: &str,
    cert: &Cert,
    ca: &Path,
    allow: &[&str],
) -> Result<Daemon, Error> {
    let mut cmd = tree.command(&bin("xvm-relocd")?);
    cmd.args(["--system", "--listen", listen, "--cert"])
        .arg(&cert.cert)
        .arg("--key")
        .arg(&cert.key)
        .arg("--ca")
        .arg(ca)
        .arg("--allow")
        .arg(allow.join(","));
    let d = Daemon::spawn("xvm-relocd", cmd, &tree.base().join(log))?
        .ready_when_logged("xvm-relocd serving")?;
    tree.reap_at_end(d.pid());
    Ok(d)
}

/// Every `xvm-count-N` the text holds, in order: the counter the test
/// guest prints on its console.
pub fn counts(text: &[u8]) -> Vec<u64> {
    let needle = b"xvm-count-";
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = crate::console::find(&text[i..], needle) {
        let start = i + at + needle.len();
        let digits: Vec<u8> = text[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .copied()
            .collect();
        if let Ok(n) = String::from_utf8_lossy(&digits).parse() {
            out.push(n);
        }
        i = start;
    }
    out
}
