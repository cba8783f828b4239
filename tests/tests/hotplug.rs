//! Hot-plug into a running Linux guest, end to end (root, hermetic): alice
//! (`virt_manage` by group alone) attaches a raw image beneath the image
//! directory with `xm block-attach`; xend opens it with the checks of a
//! start and hands qemu its fds over QMP; the guest sees a virtio disk
//! (`/sys/block/vda`) and reads the image's bytes from it; `xm
//! block-detach` takes it away, also after xend was killed and a new
//! xend adopted the domain. What a start refuses is refused here with a
//! clear error: a path outside the image directories, a symlink, a vdev
//! in use; and a detach of what is not attached. One guest, booted by the
//! first test, serves the disk tests (serialized). The network test runs
//! in a network namespace of its own (H3's fixtures, [`xvm_tests::net`]),
//! with a bridge there: `xm network-attach` gives the running guest a
//! card on a tap `vifD.N` xend made on the bridge; guest and host ping
//! each other; `xm network-detach` takes card and tap away.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use xvm_tests::disks::{image_dir, qcow2_overlay, root_image, states};
use xvm_tests::guest::require_linux_guest;
use xvm_tests::hotplug::{blocks_once, guest_pings, head_of, interfaces_once, raw_image, refused};
use xvm_tests::net::{
    BRIDGE, GUEST_IP, HOST_IP, PREFIX, bridge_with_host_address, check_on_bridge, in_netns,
    inet_sockets, ping, rerun_in_netns, taps_held, wait_gone,
};
use xvm_tests::procfs::{check_unprivileged_qemu, process_of};
use xvm_tests::stack::{ConsoleGuest, GUEST};
use xvm_tests::{Accounts, Error, check, require_program, require_root};

const IDS: Accounts = Accounts::from_base(43_000);
/// The network test's stack (in its own network namespace).
const NET_IDS: Accounts = Accounts::from_base(43_200);
const BOOT: Duration = Duration::from_secs(180);
/// One exchange with the guest's shell, the wait for a device included.
const ANSWER: Duration = Duration::from_secs(90);
/// What the attached image starts with (the guest reads it back).
const HEAD: &str = "xvm-hotplug-disk-4711";
const MIB: usize = 1 << 20;

/// The booted guest, and its image directory.
struct Fixture {
    guest: ConsoleGuest,
    images: PathBuf,
}

/// The guest, booted by the first test that asks; held by one test at a
/// time (the lock serializes them: one guest, one console). A boot
/// failure panics every test.
fn fixture(test: &str) -> Option<MutexGuard<'static, Option<Result<Fixture, Error>>>> {
    static FIXTURE: Mutex<Option<Result<Fixture, Error>>> = Mutex::new(None);
    if !require_root(test)
        || !require_program(test, "qemu-system-x86_64", "qemu-system-x86")
        || !require_program(test, "xenstore-read", "xenstore-utils")
    {
        return None;
    }
    let linux = require_linux_guest(test)?;
    let mut g = FIXTURE.lock().unwrap_or_else(PoisonError::into_inner);
    if g.is_none() {
        let t = Instant::now();
        let booted = (|| {
            let guest =
                ConsoleGuest::create("hotplug", IDS, &xend::testguest::image(), Some(&[]), &linux)?;
            guest.wait_booted(BOOT)?;
            eprintln!(
                "hotplug: the Linux guest booted in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            let images = guest.stack.root().join("var/lib/xend/storage");
            Ok::<_, Error>(Fixture { guest, images })
        })();
        *g = Some(booted);
    }
    if let Some(Err(e)) = &*g {
        panic!("the guest did not boot: {e}");
    }
    Some(g)
}

/// The fixture a guard holds (it holds one once [`fixture`] returned).
fn held(g: &mut Option<Result<Fixture, Error>>) -> &mut Fixture {
    match g {
        Some(Ok(f)) => f,
        _ => unreachable!("fixture() returns a booted guest or panics"),
    }
}

fn verdict(test: &str, t: Instant, r: Result<(), Error>) {
    eprintln!("{test}: {:.1} s", t.elapsed().as_secs_f64());
    if let Err(e) = r {
        panic!("{e}");
    }
}

impl Fixture {
    fn xm(&self, args: &[&str]) -> Result<xvm_tests::stack::Xm, Error> {
        self.guest.stack.alice(args)
    }

    /// An image to attach, `name` in the image directory.
    fn image(&self, name: &str) -> Result<String, Error> {
        let p = raw_image(
            &self.guest.stack.tree,
            &self.images,
            name,
            HEAD.as_bytes(),
            MIB,
        )?;
        Ok(p.display().to_string())
    }

    /// Attaches `target` as xvdb (read-write) and checks the guest sees
    /// it as vda with the image's first bytes.
    fn attach(&self, target: &str) -> Result<(), Error> {
        let r = self.xm(&["block-attach", GUEST, target, "xvdb", "w"])?;
        check(
            r.code == 0,
            format!(
                "xm block-attach: exit {}: {}{}\nxend: {}",
                r.code,
                r.out,
                r.err,
                self.guest.stack.xend_log()
            ),
        )?;
        let blocks = blocks_once(&self.guest, "vda", true, ANSWER)?;
        check(
            blocks.iter().any(|b| b == "vda"),
            format!("after block-attach the guest's /sys/block holds {blocks:?}, no vda"),
        )?;
        let head = head_of(&self.guest, "vda", HEAD.len(), ANSWER)?;
        check(
            head == HEAD,
            format!("the guest reads {head:?} from vda, not {HEAD:?}"),
        )?;
        let list = self.xm(&["block-list", GUEST])?.ok("xm block-list")?;
        check(
            list.out
                .lines()
                .any(|l| l.split_whitespace().take(3).eq(["xvdb", "w", "attach"])),
            format!("xm block-list does not show xvdb attached:\n{}", list.out),
        )
    }

    /// Detaches xvdb and checks the guest's vda is gone.
    fn detach(&self) -> Result<(), Error> {
        let r = self.xm(&["block-detach", GUEST, "xvdb"])?;
        check(
            r.code == 0,
            format!(
                "xm block-detach: exit {}: {}{}\nxend: {}",
                r.code,
                r.out,
                r.err,
                self.guest.stack.xend_log()
            ),
        )?;
        let blocks = blocks_once(&self.guest, "vda", false, ANSWER)?;
        check(
            !blocks.iter().any(|b| b == "vda"),
            format!("after block-detach the guest's /sys/block still holds vda: {blocks:?}"),
        )?;
        let list = self.xm(&["block-list", GUEST])?.ok("xm block-list")?;
        check(
            !list.out.contains("xvdb"),
            format!("xm block-list still shows xvdb:\n{}", list.out),
        )
    }
}

#[test]
fn a_disk_attached_to_the_running_guest_is_seen_and_read_then_detached_and_gone() {
    const T: &str = "a_disk_attached_to_the_running_guest_is_seen_and_read_then_detached_and_gone";
    let Some(mut g) = fixture(T) else { return };
    let f = held(&mut g);
    let t = Instant::now();
    verdict(
        T,
        t,
        (|| {
            let img = f.image("second.img")?;
            f.attach(&img)?;
            f.detach()?;
            // And again, in the legacy spelling of a config (`file:`):
            // the vdev and the hot-plug names are free once detached.
            f.attach(&format!("file:{img}"))?;
            f.detach()
        })(),
    );
}

#[test]
fn a_path_outside_the_image_dirs_a_symlink_and_a_vdev_in_use_are_refused_with_clear_errors() {
    const T: &str =
        "a_path_outside_the_image_dirs_a_symlink_and_a_vdev_in_use_are_refused_with_clear_errors";
    let Some(mut g) = fixture(T) else { return };
    let f = held(&mut g);
    let t = Instant::now();
    verdict(
        T,
        t,
        (|| {
            let stack = &f.guest.stack;
            // Outside: a file xvm could read, but not beneath an image
            // directory.
            let outside = raw_image(&stack.tree, stack.tree.base(), "outside.img", b"x", MIB)?;
            let r = f.xm(&[
                "block-attach",
                GUEST,
                &outside.display().to_string(),
                "xvdc",
                "w",
            ])?;
            refused("outside", &r, "not beneath an image directory")?;
            // A symlink in the image directory to an image there.
            let real = f.image("real.img")?;
            let link = f.images.join("link.img");
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&real, &link).map_err(Error::io("symlink", &link))?;
            let r = f.xm(&[
                "block-attach",
                GUEST,
                &link.display().to_string(),
                "xvdc",
                "w",
            ])?;
            refused("symlink", &r, "a symlink on the way; refused")?;
            // A vdev in use: one attached, by its name and by its slot
            // (hdc and xvdc are one disk, as in Xen).
            f.xm(&["block-attach", GUEST, &real, "xvdc", "r"])?
                .ok("xm block-attach xvdc")?;
            let r = f.xm(&["block-attach", GUEST, &real, "xvdc", "r"])?;
            refused("xvdc twice", &r, "vdev xvdc is in use (by xvdc, attached)")?;
            let r = f.xm(&["block-attach", GUEST, &real, "hdc", "r"])?;
            refused("hdc, xvdc's slot", &r, "vdev hdc is in use")?;
            f.xm(&["block-detach", GUEST, "xvdc"])?
                .ok("xm block-detach xvdc")?;
            // Nothing attached there now.
            let r = f.xm(&["block-detach", GUEST, "xvdc"])?;
            refused("xvdc detached twice", &r, "no disk xvdc is attached")?;
            // bob holds no virt_manage: refused at xend's gate.
            let bob = stack.accounts().bob();
            let r = stack.xm(&bob, &["block-attach", GUEST, &real, "xvdd", "w"])?;
            check(
                r.code != 0,
                format!("bob attached a disk: {}{}", r.out, r.err),
            )?;
            let blocks = blocks_once(&f.guest, "vdd", false, ANSWER)?;
            check(
                blocks.iter().all(|b| !b.starts_with("vd")),
                format!("a refused attach left the guest a disk: {blocks:?}"),
            )
        })(),
    );
}

#[test]
fn a_disk_attached_before_xend_was_killed_is_detached_by_the_xend_that_adopted_the_domain() {
    const T: &str =
        "a_disk_attached_before_xend_was_killed_is_detached_by_the_xend_that_adopted_the_domain";
    let Some(mut g) = fixture(T) else { return };
    let f = held(&mut g);
    let t = Instant::now();
    verdict(
        T,
        t,
        (|| {
            let img = f.image("kept.img")?;
            f.attach(&img)?;
            restart_xend(f)?;
            let list = f.xm(&["block-list", GUEST])?.ok("xm block-list")?;
            check(
                list.out
                    .lines()
                    .any(|l| l.split_whitespace().take(3).eq(["xvdb", "w", "attach"])),
                format!("the new xend does not know xvdb is attached:\n{}", list.out),
            )?;
            f.detach()
        })(),
    );
}

#[test]
fn a_qcow2_overlay_on_a_root_owned_backing_file_is_attached_through_fds_and_no_file_changes_owner_or_mode()
 {
    const T: &str = "a_qcow2_overlay_on_a_root_owned_backing_file_is_attached_through_fds_and_no_file_changes_owner_or_mode";
    if !require_program(T, "qemu-img", "qemu-utils") {
        return;
    }
    let Some(mut g) = fixture(T) else { return };
    let f = held(&mut g);
    let t = Instant::now();
    verdict(
        T,
        t,
        (|| {
            // Images as administrators keep them: root's, mode 0600, in a
            // root-only directory xend is told of (beside its own).
            let root = f.guest.stack.root().to_path_buf();
            let images = image_dir(&root)?;
            let storage = f.images.display().to_string();
            let admin = images.display().to_string();
            restart_xend_with(f, &["--image-dir", &storage, "--image-dir", &admin])?;
            let mut head = HEAD.as_bytes().to_vec();
            head.resize(MIB, 0);
            let base = root_image(&images, "base.raw", &head)?;
            let overlay = qcow2_overlay(&images, "over.qcow2", "base.raw", "raw")?;
            let owner_mode = |p: &[&std::path::Path]| -> Result<Vec<(u32, u32, u32)>, Error> {
                Ok(states(p)?
                    .into_iter()
                    .map(|s| (s.uid, s.gid, s.mode))
                    .collect())
            };
            let before = owner_mode(&[&base, &overlay])?;
            f.attach(&format!("tap:qcow2:{}", overlay.display()))?;
            f.detach()?;
            let after = owner_mode(&[&base, &overlay])?;
            check(
                before == after,
                format!("owner or mode changed: {before:?} -> {after:?}"),
            )?;
            // Back to the fixture's xend for the other tests.
            restart_xend(f)
        })(),
    );
}

/// Kills xend (SIGKILL, as a crash) and starts a new one as the
/// fixture's was (under TCG when the guest runs under it); the new one
/// adopts the guest.
fn restart_xend(f: &mut Fixture) -> Result<(), Error> {
    restart_xend_with(f, &[])
}

/// [`restart_xend`] with `args` more.
fn restart_xend_with(f: &mut Fixture, args: &[&str]) -> Result<(), Error> {
    if f.guest.kvm {
        f.guest.stack.restart_xend("xend-adopting.log", args)
    } else {
        f.guest
            .stack
            .restart_xend_under_tcg("xend-adopting.log", args)
    }
}

#[test]
fn a_card_attached_to_the_running_guest_is_on_the_bridge_and_pings_then_detached_and_its_tap_gone()
{
    const T: &str = "a_card_attached_to_the_running_guest_is_on_the_bridge_and_pings_then_detached_and_its_tap_gone";
    if in_netns(T) {
        let Some(linux) = require_linux_guest(T) else {
            return;
        };
        let t = Instant::now();
        verdict(T, t, network_attach_and_detach(&linux));
        return;
    }
    if !require_root(T)
        || !require_program(T, "qemu-system-x86_64", "qemu-system-x86")
        || !require_program(T, "xenstore-read", "xenstore-utils")
        || !require_program(T, "ip", "iproute2")
        || !require_program(T, "unshare", "util-linux")
        || !require_program(T, "ping", "iputils-ping")
    {
        return;
    }
    // Built here, once, so the copy in the namespace only reads the cache.
    if require_linux_guest(T).is_none() {
        return;
    }
    if let Err(e) = rerun_in_netns(T) {
        panic!("{e}");
    }
}

/// The network test's body, in its namespace: a guest booted with no
/// card gets one, pings and is pinged, and loses it.
fn network_attach_and_detach(linux: &xvm_tests::guest::LinuxGuest) -> Result<(), Error> {
    bridge_with_host_address()?;
    let mut guest = ConsoleGuest::create(
        "hotplug-net",
        NET_IDS,
        &xend::testguest::image(),
        Some(&[]),
        linux,
    )?;
    guest.wait_booted(BOOT)?;
    // The guest's boot-time network set-up (scripts/guest) over first:
    // it would run DHCP on a card that appeared while it looked for one,
    // flushing the address this test gives it.
    xvm_tests::hotplug::ask(
        &guest,
        "netdone: ",
        "while [ ! -e /xvm-net-done ]; do sleep 0.2; done; echo $Mover",
        ANSWER,
    )?;
    let s = &guest.stack;
    let r = s.alice(&[
        "network-attach",
        GUEST,
        &format!("bridge={BRIDGE}"),
        "model=e1000",
    ])?;
    check(
        r.code == 0,
        format!(
            "xm network-attach: exit {}: {}{}\nxend: {}",
            r.code,
            r.out,
            r.err,
            s.xend_log()
        ),
    )?;
    // Its config has no vif: the card is number 0, its tap vifD.0.
    check(
        r.out.trim() == "0",
        format!("network-attach printed {:?}", r.out),
    )?;
    let tap = format!("vif{}.0", guest.domid);
    check_on_bridge(&tap, BRIDGE)?;
    let nets = interfaces_once(&guest, "eth0", true, ANSWER)?;
    check(
        nets.iter().any(|n| n == "eth0"),
        format!("the guest has no eth0 after network-attach: {nets:?}"),
    )?;
    check(
        guest_pings(
            &guest,
            "eth0",
            &format!("{GUEST_IP}/{PREFIX}"),
            HOST_IP,
            ANSWER,
        )?,
        "the guest's pings to the host got no answer",
    )?;
    let (all, out) = ping(GUEST_IP, 3, Duration::from_secs(20))?;
    check(all, format!("the host's pings to the guest: {out}"))?;
    // qemu holds the tap and nothing of the network besides; xend keeps
    // no tap open.
    let qemu = process_of(NET_IDS.dm_base + guest.domid)?;
    check_unprivileged_qemu(qemu, NET_IDS.dm_base + guest.domid)?;
    let held = taps_held(qemu)?;
    check(held == [tap.clone()], format!("qemu holds taps {held:?}"))?;
    let inet = inet_sockets(qemu)?;
    check(inet.is_empty(), format!("qemu has inet sockets: {inet:?}"))?;
    let xend_taps = taps_held(s.xend.pid())?;
    check(
        xend_taps.is_empty(),
        format!("xend kept taps {xend_taps:?}"),
    )?;
    // A new xend (the old one killed) knows the card: it detaches it.
    if guest.kvm {
        guest.stack.restart_xend("xend-adopting.log", &[])?;
    } else {
        guest
            .stack
            .restart_xend_under_tcg("xend-adopting.log", &[])?;
    }
    let s = &guest.stack;
    let list = s.alice(&["network-list", GUEST])?.ok("xm network-list")?;
    check(
        list.out
            .lines()
            .any(|l| l.split_whitespace().next() == Some("0") && l.ends_with("attach")),
        format!(
            "xm network-list does not show card 0 attached:\n{}",
            list.out
        ),
    )?;
    let r = s.alice(&["network-detach", GUEST, "1"])?;
    refused("card 1", &r, "no network card 1 is attached")?;
    s.alice(&["network-detach", GUEST, "0"])?
        .ok("xm network-detach")?;
    wait_gone(&tap, Duration::from_secs(15))?;
    let nets = interfaces_once(&guest, "eth0", false, ANSWER)?;
    check(
        !nets.iter().any(|n| n == "eth0"),
        format!("the guest still has eth0 after network-detach: {nets:?}"),
    )?;
    // A bridge that is not there is named.
    let r = s.alice(&["network-attach", GUEST, "bridge=nosuchbr0"])?;
    refused("no such bridge", &r, "nosuchbr0")
}
