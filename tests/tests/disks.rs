//! Disks as administrators keep them, through the whole stack in system
//! mode (xenstored and xend, root, hermetic), created by `xm` as alice
//! (`virt_manage` by group alone): images root's, mode 0600, in a
//! root-only `/var/lib/xen/images` (xend's `--image-dir`). The boot-sector
//! test guest boots from a raw image, from a qcow2 overlay (real
//! `qemu-img`) on such a backing file, and from a loop device, with an
//! ISO as a read-only CD-ROM; owner, mode and mtime of every file are the
//! same before and after; qemu holds the files by fd yet cannot open
//! them by path (asked over QMP to open one itself: Landlock refuses), and
//! its /dev is its own. With foreign-images off, the same create is
//! refused in one line naming the feature.

use std::path::{Path, PathBuf};
use std::sync::{MutexGuard, OnceLock};

use xvm_tests::disks::{
    FileState, LoopDevice, image_dir, json_str, qcow2_overlay, qmp, root_image, states,
};
use xvm_tests::procfs::{check_unprivileged_qemu, process_of};
use xvm_tests::stack::read_banner;
use xvm_tests::{Accounts, Error, Stack, check, require_program, require_root, serial};

const IDS: Accounts = Accounts::from_base(45_000);
const OFF_IDS: Accounts = Accounts::from_base(46_100);

/// The image directory of a tree named `name` (the tree is made anew by
/// [`Stack::start`], so only its path is known before).
fn images_of(name: &str) -> PathBuf {
    std::env::temp_dir()
        .join(format!("xvm-{name}-{}", std::process::id()))
        .join("root")
        .join(xvm_tests::disks::IMAGES)
}

fn started(name: &str, ids: Accounts, more: &[&str]) -> Result<(Stack, PathBuf), Error> {
    let images = images_of(name);
    let dir = images.display().to_string();
    // TCG: the disks' path does not depend on the accelerator, and the
    // Linux guest boots under TCG on every host (some nested KVMs stop it).
    let mut args = vec![
        "--image-dir",
        dir.as_str(),
        "--shutdown-timeout",
        "2",
        "--accel",
        "tcg",
    ];
    args.extend_from_slice(more);
    let s = Stack::start(name, ids, &xend::testguest::image(), &args)?;
    let images = image_dir(s.root())?;
    Ok((s, images))
}

/// The stack, started by the first test that gets here.
fn stack(test: &str) -> Option<(MutexGuard<'static, ()>, &'static (Stack, PathBuf))> {
    static STACK: OnceLock<Result<(Stack, PathBuf), Error>> = OnceLock::new();
    if !require_root(test)
        || !require_program(test, "qemu-system-x86_64", "qemu-system-x86")
        || !require_program(test, "qemu-img", "qemu-utils")
        || !require_program(test, "losetup", "mount")
    {
        return None;
    }
    let guard = serial();
    match STACK.get_or_init(|| started("disks", IDS, &[])) {
        Ok(s) => Some((guard, s)),
        Err(e) => panic!("the stack did not start: {e}"),
    }
}

/// A config of the test guest named `name` with `disks` (xl disk specs),
/// written readable for alice; its path.
fn config(s: &Stack, name: &str, disks: &[String]) -> Result<String, Error> {
    let quoted: Vec<String> = disks.iter().map(|d| format!("'{d}'")).collect();
    let text = format!(
        "name = \"{name}\"\ntype = \"hvm\"\nmemory = 32\nvcpus = 1\n\
         disk = [ {} ]\nserial = \"pty\"\n",
        quoted.join(", ")
    );
    let p = s.tree.base().join(format!("{name}.cfg"));
    std::fs::write(&p, text).map_err(Error::io("write", &p))?;
    xvm_tests::hermetic::set_mode(&p, 0o644)?;
    Ok(p.display().to_string())
}

/// A running guest, destroyed when dropped.
struct Guest<'a> {
    stack: &'a Stack,
    domid: u32,
    qemu: i32,
}

impl<'a> Guest<'a> {
    /// `xm create cfg` as alice, and the guest's banner on its serial.
    fn boot(stack: &'a Stack, name: &str, cfg: &str) -> Result<Guest<'a>, Error> {
        stack.alice_create(cfg)?;
        let domid = stack.domid(name)?;
        let qemu = process_of(stack.accounts().dm_base + domid)?;
        let g = Guest { stack, domid, qemu };
        let dir = stack.domain_dir(domid);
        read_banner(&dir.join("serial"), xend::testguest::BANNER).map_err(|e| {
            let log = std::fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
            Error::Check(format!("{e}; qemu log: {log}"))
        })?;
        Ok(g)
    }

    fn cmdline(&self) -> Result<String, Error> {
        let p = format!("/proc/{}/cmdline", self.qemu);
        std::fs::read_to_string(&p)
            .map(|c| c.replace('\0', " "))
            .map_err(Error::io("read", p))
    }

    /// The access modes (`O_ACCMODE` of fdinfo's flags) of qemu's fds
    /// open on `path`.
    fn modes_on(&self, path: &Path) -> Result<Vec<u32>, Error> {
        let d = format!("/proc/{}/fd", self.qemu);
        let mut modes = Vec::new();
        for e in std::fs::read_dir(&d).map_err(Error::io("list", &d))? {
            let e = e.map_err(Error::io("list", &d))?;
            if std::fs::read_link(e.path()).is_ok_and(|l| l == path) {
                let info = format!(
                    "/proc/{}/fdinfo/{}",
                    self.qemu,
                    e.file_name().to_string_lossy()
                );
                let text = std::fs::read_to_string(&info).map_err(Error::io("read", &info))?;
                let flags = text
                    .lines()
                    .find_map(|l| l.strip_prefix("flags:"))
                    .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
                    .ok_or_else(|| Error::Check(format!("{info}: no flags")))?;
                modes.push(flags & 0o3);
            }
        }
        Ok(modes)
    }

    /// qemu, asked over QMP to open each of `paths` itself, is refused.
    fn refused_by_path(&self, paths: &[&Path]) -> Result<(), Error> {
        let sock = self.stack.domain_dir(self.domid).join("qmp");
        let asks: Vec<String> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    "{{\"execute\":\"blockdev-add\",\"arguments\":{{\"driver\":\"file\",\"node-name\":\"probe{i}\",\"filename\":{},\"read-only\":true,\"locking\":\"off\"}}}}",
                    json_str(&p.display().to_string())
                )
            })
            .collect();
        for (p, answer) in paths.iter().zip(qmp(&sock, &asks)?) {
            check(
                answer.contains("\"error\"") && answer.contains("Permission denied"),
                format!("qemu opened {} by path: {answer}", p.display()),
            )?;
        }
        Ok(())
    }

    /// qemu holds each of `paths` by fd, its command line names none of
    /// them, and asked over QMP to open one itself it is refused; so is
    /// a file its mode lets anyone read (Landlock, not only the file's
    /// mode bits, refuses).
    fn cannot_open_by_path(&self, paths: &[&Path]) -> Result<(), Error> {
        let readable = self.stack.tree.base().join("readable.img");
        std::fs::write(&readable, b"anyone may read this")
            .map_err(Error::io("write", &readable))?;
        xvm_tests::hermetic::set_mode(&readable, 0o644)?;
        check_unprivileged_qemu(self.qemu, self.stack.accounts().dm_base + self.domid)?;
        let cmd = self.cmdline()?;
        for p in paths {
            check(
                !cmd.contains(&p.display().to_string()),
                format!("qemu's command line names {}: {cmd}", p.display()),
            )?;
            check(
                !self.modes_on(p)?.is_empty(),
                format!("qemu holds no fd of {}", p.display()),
            )?;
        }
        let probes: Vec<&Path> = paths.iter().copied().chain([readable.as_path()]).collect();
        self.refused_by_path(&probes)
    }
}

impl Drop for Guest<'_> {
    fn drop(&mut self) {
        let _ = self.stack.alice(&["destroy", &self.domid.to_string()]);
    }
}

fn unchanged(before: &[FileState], paths: &[&Path]) -> Result<(), Error> {
    let after = states(paths)?;
    check(
        after == before,
        format!("owner, mode or mtime changed:\nbefore {before:?}\nafter  {after:?}"),
    )
}

/// Boots `name` from `disks` (their config lines), runs `checks` on the
/// running guest (given the states of `files` before), checks that qemu
/// cannot open `files` by path and, the guest gone, that none of them
/// changed.
fn boots_unchanged(
    s: &Stack,
    name: &str,
    disks: &[String],
    files: &[&Path],
    checks: impl FnOnce(&Guest<'_>, &[FileState]) -> Result<(), Error>,
) -> Result<(), Error> {
    let before = states(files)?;
    let cfg = config(s, name, disks)?;
    {
        let g = Guest::boot(s, name, &cfg)?;
        checks(&g, &before)?;
        g.cannot_open_by_path(files)?;
    }
    unchanged(&before, files)
}

fn verdict(r: Result<(), Error>) {
    if let Err(e) = r {
        panic!("{e}");
    }
}

#[test]
fn a_root_owned_mode_0600_raw_image_boots_unchanged_and_qemu_cannot_open_it_by_path() {
    let test = "a_root_owned_mode_0600_raw_image_boots_unchanged_and_qemu_cannot_open_it_by_path";
    let Some((_g, (s, images))) = stack(test) else {
        return;
    };
    verdict((|| {
        let img = root_image(images, "raw.img", &xend::testguest::image())?;
        let files = [img.as_path()];
        let disks = [format!("{},raw,hda,rw", img.display())];
        boots_unchanged(s, "rawguest", &disks, &files, |g, before| {
            check(
                g.modes_on(&img)?.contains(&2),
                "qemu holds the image read-write",
            )?;
            unchanged(before, &files)
        })
    })());
}

#[test]
fn a_qcow2_overlay_on_a_root_owned_backing_file_boots_and_no_file_changes() {
    let test = "a_qcow2_overlay_on_a_root_owned_backing_file_boots_and_no_file_changes";
    let Some((_g, (s, images))) = stack(test) else {
        return;
    };
    verdict((|| {
        std::fs::create_dir_all(images.join("base")).map_err(Error::io("create", images))?;
        let base = root_image(&images.join("base"), "base.img", &xend::testguest::image())?;
        let top = qcow2_overlay(images, "overlay.qcow2", "base/base.img", "raw")?;
        let files = [top.as_path(), base.as_path()];
        let disks = [format!("{},qcow2,hda,rw", top.display())];
        boots_unchanged(s, "qcowguest", &disks, &files, |g, _| {
            let cmd = g.cmdline()?;
            check(
                cmd.contains("\"driver\":\"qcow2\"") && cmd.contains("\"backing\":\"d0-1\""),
                format!("the overlay's backing is the node xend opened: {cmd}"),
            )?;
            let modes = g.modes_on(&base)?;
            check(
                !modes.is_empty() && modes.iter().all(|m| *m == 0),
                format!("qemu holds the backing file read-only only: {modes:?}"),
            )
        })
    })());
}

#[test]
fn a_loop_device_disk_boots_and_an_iso_attaches_read_only_as_a_cdrom() {
    let test = "a_loop_device_disk_boots_and_an_iso_attaches_read_only_as_a_cdrom";
    let Some((_g, (s, images))) = stack(test) else {
        return;
    };
    verdict((|| {
        // The loop device's backing file is outside the image directory:
        // only the device node is handed over.
        let backing = s.tree.base().join("loop-backing.img");
        std::fs::write(&backing, xend::testguest::image()).map_err(Error::io("write", &backing))?;
        let lo = LoopDevice::attach(&backing)?;
        let node = lo.node_in(images, "loop.blk")?;
        let iso = root_image(images, "install.iso", &vec![0u8; 2048 * 32])?;
        let files = [node.as_path(), iso.as_path()];
        let disks = [
            format!("{},raw,hda,rw", node.display()),
            format!("{},raw,hdc:cdrom,ro", iso.display()),
        ];
        boots_unchanged(s, "loopguest", &disks, &files, |g, _| {
            let cmd = g.cmdline()?;
            check(
                cmd.contains("\"driver\":\"host_device\"")
                    && cmd.contains("ide-hd,drive=d0-0,bus=ide.0,unit=0")
                    && cmd.contains("ide-cd,drive=d2-0,bus=ide.1,unit=0"),
                format!("a host_device disk and an IDE CD-ROM: {cmd}"),
            )?;
            check(
                g.modes_on(&node)?.contains(&2),
                "qemu holds the loop device read-write",
            )?;
            let modes = g.modes_on(&iso)?;
            check(
                !modes.is_empty() && modes.iter().all(|m| *m == 0),
                format!("qemu holds the ISO read-only only: {modes:?}"),
            )?;
            let sock = s.domain_dir(g.domid).join("qmp");
            let block = qmp(&sock, &["{\"execute\":\"query-block\"}".to_string()])?;
            check(
                block.iter().any(|a| a.contains("\"node-name\": \"d2-0\"")),
                format!("the CD-ROM has its medium: {block:?}"),
            )
        })
    })());
}

#[test]
fn with_foreign_images_off_a_root_owned_image_is_refused_in_one_line() {
    let test = "with_foreign_images_off_a_root_owned_image_is_refused_in_one_line";
    if !require_root(test) || !require_program(test, "qemu-system-x86_64", "qemu-system-x86") {
        return;
    }
    let _g = serial();
    verdict((|| {
        let (s, images) = started("disks-off", OFF_IDS, &["--feature-foreign-images", "off"])?;
        let img = root_image(&images, "raw.img", &xend::testguest::image())?;
        let cfg = config(&s, "offguest", &[format!("{},raw,hda,rw", img.display())])?;
        let r = s.alice(&["create", &cfg])?;
        let err = r.err.trim();
        check(
            r.code != 0
                && !err.contains('\n')
                && err.contains("needs xend's feature foreign-images, which is off")
                && err.contains("setprop features/foreign-images = true"),
            format!("xm create: {}\n{}{}", r.code, r.out, r.err),
        )?;
        check(
            !s.alice(&["list"])?.lists("offguest", "1"),
            "the refused guest does not run",
        )
    })());
}

#[test]
fn a_root_owned_mode_0600_kernel_and_ramdisk_boot_linux_from_copies_and_stay_unchanged() {
    let test =
        "a_root_owned_mode_0600_kernel_and_ramdisk_boot_linux_from_copies_and_stay_unchanged";
    let Some((_g, (s, images))) = stack(test) else {
        return;
    };
    let Some(linux) = xvm_tests::guest::require_linux_guest(test) else {
        return;
    };
    verdict((|| {
        let read = |p: &Path| std::fs::read(p).map_err(Error::io("read", p));
        let kernel = root_image(images, "linux-vmlinuz", &read(&linux.kernel)?)?;
        let initrd = root_image(images, "linux-initrd.gz", &read(&linux.initrd)?)?;
        let files = [kernel.as_path(), initrd.as_path()];
        let before = states(&files)?;
        let cfg = s.tree.base().join("linuxdisk.cfg");
        let text = format!(
            "name = \"linuxdisk\"\ntype = \"hvm\"\nmemory = 256\nvcpus = 1\n\
             kernel = \"{}\"\nramdisk = \"{}\"\ncmdline = \"{}\"\nserial = \"pty\"\n",
            kernel.display(),
            initrd.display(),
            xvm_tests::guest::LINUX_CMDLINE
        );
        std::fs::write(&cfg, text).map_err(Error::io("write", &cfg))?;
        xvm_tests::hermetic::set_mode(&cfg, 0o644)?;
        s.alice_create(&cfg.display().to_string())?;
        let domid = s.domid("linuxdisk")?;
        let g = Guest {
            stack: s,
            domid,
            qemu: process_of(s.accounts().dm_base + domid)?,
        };
        let dir = s.domain_dir(domid);
        read_banner(
            &dir.join("serial"),
            xvm_tests::guest::LINUX_BANNER.as_bytes(),
        )
        .map_err(|e| {
            let log = std::fs::read_to_string(dir.join("qemu.log")).unwrap_or_default();
            Error::Check(format!("{e}; qemu log: {log}"))
        })?;
        check_unprivileged_qemu(g.qemu, s.accounts().dm_base + domid)?;
        // qemu holds copies without a name, not the files themselves.
        for f in files {
            check(
                g.modes_on(f)?.is_empty(),
                format!("qemu holds {} itself, not a copy", f.display()),
            )?;
        }
        g.refused_by_path(&files)?;
        unchanged(&before, &files)?;
        let left: Vec<_> = std::fs::read_dir(s.root().join("run/xend"))
            .map_err(Error::io("list", s.root().join("run/xend")))?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .filter(|n| n != "domains" && n != "xmlrpc.sock")
            .collect();
        check(
            left.is_empty(),
            format!("the copies have no name in xend's run directory: {left:?}"),
        )
    })());
}
