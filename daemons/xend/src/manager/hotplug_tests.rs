//! Hot-plug without root or qemu: the QMP sequences against a fake qemu
//! that answers each command as the script says and records what it got,
//! and the manager's checks and records.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::*;
use crate::config::{Format, parse_disk};
use crate::config::{Mac, NicModel};
use crate::disk::ChainFile;
use crate::disk::OpenDisk;
use crate::domain::DState;
use crate::domain::{Domain, test_settings};
use crate::manager::Manager;
use crate::qmp::{Qmp, QmpError};
use crate::saved::{FDSETS_PER_DISK, MAX_HOT_DISKS};
use crate::saved::{SavedState, read_state, write_state};
use crate::scratch::Scratch;

/// What the fake qemu answers to one command: the lines it writes.
type Script = fn(&str, &Value) -> Vec<Value>;

/// A fake qemu on `dir/qmp`: greets, answers every command by `script`,
/// and returns the commands it got (name and arguments) when the client
/// closes.
fn fake(dir: &Path, script: Script) -> JoinHandle<Vec<(String, Value)>> {
    let l = UnixListener::bind(dir.join("qmp")).expect("bind");
    std::thread::spawn(move || {
        let mut got = Vec::new();
        let Ok((s, _)) = l.accept() else { return got };
        let mut w = s.try_clone().expect("clone");
        let _ = w.write_all(b"{\"QMP\":{}}\n");
        for line in BufReader::new(s).lines() {
            let Ok(line) = line else { break };
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                break;
            };
            let cmd = v["execute"].as_str().unwrap_or_default().to_string();
            let args = v.get("arguments").cloned().unwrap_or(Value::Null);
            for out in script(&cmd, &args) {
                let _ = w.write_all(format!("{out}\n").as_bytes());
            }
            got.push((cmd, args));
        }
        got
    })
}

/// Runs `f` (given the scratch directory) on a QMP connection to a fake
/// qemu answering by `script`, in a scratch directory named `name`; what
/// `f` returned, and what the fake was sent once the connection closed.
fn over_fake<T>(
    name: &str,
    script: Script,
    f: impl FnOnce(&Path, &mut Qmp) -> T,
) -> (T, Vec<(String, Value)>) {
    let dir = Scratch::new(name);
    let qemu = fake(dir.path(), script);
    let mut q = Qmp::connect(&dir.join("qmp")).expect("qmp");
    let r = f(dir.path(), &mut q);
    drop(q);
    (r, qemu.join().expect("fake"))
}

fn ok() -> Vec<Value> {
    vec![json!({"return": {}})]
}

/// qemu as it answers when all goes well; `device_del` is answered after
/// the guest released the device (the event first).
fn all_well(cmd: &str, args: &Value) -> Vec<Value> {
    match cmd {
        "add-fd" => vec![json!({"return": {"fdset-id": args["fdset-id"], "fd": 30}})],
        "device_del" => vec![
            json!({"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral/x/virtio-backend"}}),
            json!({"event": "DEVICE_DELETED", "data": {"device": args["id"], "path": "/machine/peripheral/x"}}),
            json!({"return": {}}),
        ],
        "query-named-block-nodes" => vec![json!({"return": [
            {"node-name": "h2-0"}, {"node-name": "h2-0f"}, {"node-name": "d0-0"}
        ]})],
        "query-fdsets" => vec![json!({"return": [{"fdset-id": 1032, "fds": []}, {"fdset-id": 1}]})],
        _ => ok(),
    }
}

fn names(got: &[(String, Value)]) -> Vec<&str> {
    got.iter().map(|(c, _)| c.as_str()).collect()
}

fn file(dir: &Path, name: &str) -> OwnedFd {
    let p = dir.join(name);
    std::fs::write(&p, b"").expect("image");
    std::fs::File::open(&p).expect("open").into()
}

fn open_disk(dir: &Path) -> OpenDisk {
    let disk = parse_disk(&format!(
        "vdev=xvdb,access=w,target={}",
        dir.join("b.img").display()
    ))
    .expect("disk");
    OpenDisk {
        chain: vec![ChainFile {
            path: disk.target.clone(),
            format: Format::Raw,
            block: false,
            ro: file(dir, "b.img"),
            rw: Some(file(dir, "b.img")),
        }],
        disk,
    }
}

fn hot_disk() -> HotDisk {
    HotDisk {
        vdev: "xvdb".into(),
        spec: "vdev=xvdb,access=rw,target=/i/b.img".into(),
        n: 2,
        files: 1,
    }
}

#[test]
fn a_disk_goes_to_qemu_as_fds_in_its_fdset_then_nodes_then_a_virtio_device() {
    let ((), got) = over_fake("hotplug-attach", all_well, |dir, q| {
        attach_disk(q, 4, &hot_disk(), &open_disk(dir)).expect("attached");
    });
    assert_eq!(
        names(&got),
        [
            "qmp_capabilities",
            "add-fd",
            "add-fd",
            "blockdev-add",
            "blockdev-add",
            "device_add"
        ]
    );
    // Disk n=2: fd set 1000 + 2*16, both fds in it.
    assert_eq!(got[1].1["fdset-id"], json!(1032));
    assert_eq!(got[2].1["fdset-id"], json!(1032));
    assert_eq!(got[3].1["filename"], json!("/dev/fdset/1032"));
    assert_eq!(got[3].1["node-name"], json!("h2-0f"));
    assert_eq!(got[4].1["node-name"], json!("h2-0"));
    assert_eq!(
        got[5].1,
        json!({"driver": "virtio-blk-pci", "id": "hot-xvdb", "drive": "h2-0"})
    );
}

#[test]
fn a_refused_device_undoes_the_nodes_and_fdsets_before_it_and_names_the_step() {
    fn refuse_device(cmd: &str, args: &Value) -> Vec<Value> {
        match cmd {
            "device_add" => vec![json!({"error": {"class": "GenericError", "desc": "no slot"}})],
            _ => all_well(cmd, args),
        }
    }
    let (e, got) = over_fake("hotplug-undo", refuse_device, |dir, q| {
        attach_disk(q, 4, &hot_disk(), &open_disk(dir)).expect_err("refused")
    });
    assert!(
        matches!(&e, HotplugError::DeviceAdd { domid: 4, device, .. } if device == "hot-xvdb"),
        "{e:?}"
    );
    let line = e.to_string();
    assert!(
        line.starts_with("domain 4: hot-xvdb: device_add: "),
        "{line}"
    );
    assert!(line.contains("no slot"), "{line}");
    let tail: Vec<(&str, &Value)> = got[6..].iter().map(|(c, a)| (c.as_str(), a)).collect();
    assert_eq!(
        tail,
        [
            ("blockdev-del", &json!({"node-name": "h2-0"})),
            ("blockdev-del", &json!({"node-name": "h2-0f"})),
            ("remove-fd", &json!({"fdset-id": 1032})),
        ]
    );
}

#[test]
fn a_detach_waits_for_the_guest_then_removes_only_what_qemu_still_holds() {
    let ((), got) = over_fake("hotplug-detach", all_well, |_, q| {
        detach_disk(q, 4, &hot_disk(), Duration::from_secs(5)).expect("detached");
    });
    assert_eq!(
        names(&got),
        [
            "qmp_capabilities",
            "device_del",
            "query-named-block-nodes",
            "blockdev-del",
            "blockdev-del",
            "query-fdsets",
            "remove-fd"
        ]
    );
    assert_eq!(got[1].1, json!({"id": "hot-xvdb"}));
    assert_eq!(got[3].1, json!({"node-name": "h2-0"}));
    assert_eq!(got[4].1, json!({"node-name": "h2-0f"}));

    // Cut short before: the device and its nodes are gone already; the
    // fd set is all that is left to remove.
    fn gone(cmd: &str, args: &Value) -> Vec<Value> {
        match cmd {
            "device_del" => vec![json!({"error": {"class": "DeviceNotFound", "desc": "gone"}})],
            "query-named-block-nodes" => vec![json!({"return": [{"node-name": "d0-0"}]})],
            _ => all_well(cmd, args),
        }
    }
    let ((), got) = over_fake("hotplug-again", gone, |_, q| {
        detach_disk(q, 4, &hot_disk(), Duration::from_secs(5)).expect("done again");
    });
    assert_eq!(
        names(&got),
        [
            "qmp_capabilities",
            "device_del",
            "query-named-block-nodes",
            "query-fdsets",
            "remove-fd"
        ]
    );
}

#[test]
fn a_guest_that_keeps_the_device_is_an_error_and_nothing_is_removed() {
    fn keeps(cmd: &str, args: &Value) -> Vec<Value> {
        match cmd {
            "device_del" => vec![
                json!({"event": "DEVICE_DELETED", "data": {"device": "hot-xvdc"}}),
                json!({"return": {}}),
            ],
            _ => all_well(cmd, args),
        }
    }
    let (e, got) = over_fake("hotplug-keeps", keeps, |_, q| {
        detach_disk(q, 4, &hot_disk(), Duration::from_millis(300)).expect_err("kept")
    });
    assert!(
        matches!(
            &e,
            HotplugError::Released {
                source: QmpError::NoEvent { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("the guest did not release it"),
        "{e}"
    );
    assert_eq!(names(&got), ["qmp_capabilities", "device_del"]);
}

/// A backend for the tests: an fd, qemu's tap arguments.
struct FakeBackend(OwnedFd);

impl NicBackend for FakeBackend {
    fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    fn netdev_add(&self, id: &str, fdname: &str) -> Value {
        json!({"type": "tap", "id": id, "fd": fdname})
    }
}

fn hot_nic() -> HotNic {
    HotNic {
        devid: 1,
        spec: "mac=00:16:3e:01:02:03,model=e1000".into(),
    }
}

#[test]
fn a_card_is_its_backend_fd_by_getfd_a_tap_netdev_and_a_device_with_its_mac() {
    let (a, _b) = UnixStream::pair().expect("pair");
    let mac = Mac([0, 0x16, 0x3e, 1, 2, 3]);
    let ((), got) = over_fake("hotplug-nic", all_well, |_, q| {
        attach_nic(
            q,
            4,
            &hot_nic(),
            &FakeBackend(a.into()),
            mac,
            NicModel::VirtioNet,
        )
        .expect("attached");
        detach_nic(q, 4, &hot_nic(), Duration::from_secs(5)).expect("detached");
    });
    assert_eq!(
        names(&got),
        [
            "qmp_capabilities",
            "getfd",
            "netdev_add",
            "device_add",
            "device_del",
            "netdev_del"
        ]
    );
    assert_eq!(got[1].1, json!({"fdname": "hotnet1"}));
    assert_eq!(
        got[2].1,
        json!({"type": "tap", "id": "hotnet1", "fd": "hotnet1"})
    );
    assert_eq!(
        got[3].1,
        json!({"driver": "virtio-net-pci", "id": "hotnic1", "netdev": "hotnet1", "mac": "00:16:3e:01:02:03"})
    );
    assert_eq!(got[5].1, json!({"id": "hotnet1"}));

    fn refuse_netdev(cmd: &str, args: &Value) -> Vec<Value> {
        match cmd {
            "netdev_add" => vec![json!({"error": {"class": "GenericError", "desc": "bad fd"}})],
            _ => all_well(cmd, args),
        }
    }
    let (a, _b) = UnixStream::pair().expect("pair");
    let (e, got) = over_fake("hotplug-nic-refused", refuse_netdev, |_, q| {
        attach_nic(
            q,
            4,
            &hot_nic(),
            &FakeBackend(a.into()),
            mac,
            NicModel::E1000,
        )
        .expect_err("refused")
    });
    assert!(
        e.to_string().starts_with("domain 4: hotnic1: netdev_add: "),
        "{e}"
    );
    assert_eq!(
        names(&got),
        ["qmp_capabilities", "getfd", "netdev_add", "closefd"]
    );
}

/// A manager with domain 3 running `config` (no qemu: the steps under
/// the lock only), its run directory with a state file.
fn manager(dir: &Path, config: &str) -> Manager {
    let s = test_settings(dir);
    let mut m = Manager::new(s);
    let ddir: PathBuf = dir.join("run/domains/3");
    std::fs::create_dir_all(&ddir).expect("dir");
    let uuid = "6f0c9a5e-1d2b-4c3d-9e8f-0123456789ab".to_string();
    write_state(
        &ddir,
        &SavedState {
            domid: 3,
            uuid: uuid.clone(),
            source: "web.cfg".into(),
            config: config.into(),
            pid: 1,
            uid: 1,
            start_time: 1,
            started: 1,
            attached: Attached::default(),
        },
    )
    .expect("state");
    m.domains.insert(
        3,
        Domain {
            domid: 3,
            config: config::parse(Path::new("web.cfg"), config).expect("config"),
            uuid,
            state: DState::Running,
            child: None,
            started: SystemTime::now(),
            dir: ddir,
            uid: 1,
            vnc: None,
            vnc_tcp: None,
        },
    );
    m
}

const WEB: &str = "name = \"web\"\ntype = \"hvm\"\nmemory = 32\ndisk = [ '/i/a.img,raw,hda,w' ]\n";

#[test]
fn vdevs_in_use_disks_of_the_config_and_ones_not_attached_are_refused_by_name() {
    let dir = Scratch::new("hotplug-checks");
    let mut m = manager(dir.path(), WEB);
    let disk = |vdev: &str| disk_of(3, "/i/b.img", vdev, "w").expect("disk");
    for vdev in ["hda", "xvda"] {
        let e = m.begin_block_attach("web", disk(vdev)).expect_err("in use");
        assert_eq!(
            e.to_string(),
            format!("domain 3: vdev {vdev} is in use (by hda of its config)")
        );
    }
    let job = m.begin_block_attach("web", disk("xvdb")).expect("free");
    let e = m
        .begin_block_attach("3", disk("xvdb"))
        .expect_err("pending");
    assert!(matches!(e, HotplugError::Pending { .. }), "{e}");
    let e = m
        .begin_block_detach("web", "xvdb")
        .expect_err("being attached");
    assert!(matches!(e, HotplugError::Pending { .. }), "{e}");
    // Saved before qemu is asked, with every fd set it may take: a new
    // xend after a crash here can detach it.
    let st = read_state(&dir.join("run/domains/3/state.json")).expect("state");
    assert_eq!(
        st.attached
            .disks
            .iter()
            .map(|d| (d.vdev.as_str(), d.files))
            .collect::<Vec<_>>(),
        [("xvdb", FDSETS_PER_DISK)]
    );
    let h = m.end_block_attach(job, Ok(1)).expect("recorded");
    assert_eq!((h.vdev.as_str(), h.n, h.files), ("xvdb", 0, 1));
    // Recorded in state.json, where a new xend reads it.
    let st = read_state(&dir.join("run/domains/3/state.json")).expect("state");
    assert_eq!(st.attached.disks, std::slice::from_ref(&h));
    assert_eq!(st.attached.next, 1);
    let e = m
        .begin_block_attach("web", disk("hdb"))
        .expect_err("same slot");
    assert_eq!(
        e.to_string(),
        "domain 3: vdev hdb is in use (by xvdb, attached)"
    );
    let e = m.begin_block_detach("web", "hda").expect_err("config");
    assert!(e.to_string().contains("hda is a disk of its config"), "{e}");
    let e = m.begin_block_detach("web", "xvdc").expect_err("nothing");
    assert_eq!(e.to_string(), "domain 3: no disk xvdc is attached");
    let rows = m.block_list("web").expect("list");
    assert_eq!(
        rows.iter()
            .map(|r| (r.vdev.as_str(), r.hotplugged))
            .collect::<Vec<_>>(),
        [("hda", false), ("xvdb", true)]
    );

    // Paused, the guest could not let it go: refused at once.
    if let Some(d) = m.domains.get_mut(&3) {
        d.state = DState::Paused;
    }
    let e = m.begin_block_detach("web", "xvdb").expect_err("paused");
    assert!(e.to_string().contains("is paused"), "{e}");
    if let Some(d) = m.domains.get_mut(&3) {
        d.state = DState::Running;
    }
    // A failed detach leaves it attached; a done one forgets it, saved.
    let (at, h) = m.begin_block_detach("web", "xvdb").expect("attached");
    let failed = Err(HotplugError::NotRunning { domid: 3 });
    assert!(m.end_block_detach(&at, &h, failed).is_err());
    let (at, h) = m.begin_block_detach("web", "xvdb").expect("still attached");
    m.end_block_detach(&at, &h, Ok(())).expect("detached");
    let st = read_state(&dir.join("run/domains/3/state.json")).expect("state");
    assert!(st.attached.disks.is_empty());
    assert_eq!(st.attached.next, 1, "hot-plug numbers are never reused");
    // A failed attach marks nothing.
    let job = m
        .begin_block_attach("web", disk("xvdb"))
        .expect("free again");
    assert!(
        m.end_block_attach(job, Err(HotplugError::NotRunning { domid: 3 }))
            .is_err()
    );
    assert!(m.attached("web").expect("known").1.disks.is_empty());
}

#[test]
fn attached_devices_are_bounded_and_end_with_the_domain() {
    let dir = Scratch::new("hotplug-bounds");
    let mut m = manager(dir.path(), "name = \"web\"\ntype = \"hvm\"\nmemory = 32\n");
    let job = m
        .begin_block_attach("web", disk_of(3, "/i/b.img", "xvdb", "r").expect("disk"))
        .expect("free");
    m.end_block_attach(job, Ok(1)).expect("recorded");
    // The bound holds whatever the vdevs are named.
    if let Some(h) = m.hot.get_mut(&3) {
        for n in 1..u32::try_from(MAX_HOT_DISKS).expect("small") {
            h.attached.disks.push(HotDisk {
                vdev: format!("vd{n}"),
                spec: String::new(),
                n,
                files: 1,
            });
        }
    }
    let e = m
        .begin_block_attach("web", disk_of(3, "/i/c.img", "xvdc", "w").expect("disk"))
        .expect_err("full");
    assert!(matches!(e, HotplugError::TooMany { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("at most 8 (xm block-detach one first)"),
        "{e}"
    );
    let vif = vif_of(3, "bridge=xenbr0,model=virtio-net").expect("vif");
    for devid in 0..u32::try_from(crate::net::MAX_NICS).expect("small") {
        let job = m.begin_nic_attach("web", vif.clone()).expect("room");
        assert_eq!(job.hot.devid, devid);
        assert!(job.hot.spec.contains("mac=00:16:3e:"), "{}", job.hot.spec);
        m.end_nic_attach(job, Ok(())).expect("recorded");
    }
    let e = m.begin_nic_attach("web", vif).expect_err("full");
    assert!(matches!(e, HotplugError::TooMany { .. }), "{e}");
    assert_eq!(
        m.network_list("web").expect("list").len(),
        crate::net::MAX_NICS
    );
    let e = vif_of(3, &"model=e1000,".repeat(200)).expect_err("too long");
    assert!(e.to_string().contains("longer than 1024 bytes"), "{e}");
    let e = vif_of(3, "bridge=xenbr0,rate=10Mb/s").expect_err("not acted on");
    assert!(e.to_string().contains("rate is not acted on"), "{e}");
    m.take("web").expect("taken");
    assert!(m.hot.is_empty(), "what was attached ends with the domain");
}

#[test]
fn a_target_reads_as_a_configs_disk_and_vdev_and_mode_are_words() {
    let d = disk_of(3, "phy:/dev/vg0/web", "xvdb", "w").expect("phy");
    assert_eq!(
        (d.target.as_path(), d.vdev.as_str(), d.read_only),
        (Path::new("/dev/vg0/web"), "xvdb", false)
    );
    let d = disk_of(3, "file:/i/b.img", "xvdc", "r").expect("file");
    assert_eq!(
        (d.target.as_path(), d.read_only),
        (Path::new("/i/b.img"), true)
    );
    let e = disk_of(3, "file:/i/a,b.img", "xvdc", "r").expect_err("a comma");
    assert!(
        matches!(e, HotplugError::Field { what: "target", .. }),
        "{e}"
    );
    let d = disk_of(3, "/i/a,b.img", "xvdc", "r").expect("a plain path, commas and all");
    assert_eq!(d.target, Path::new("/i/a,b.img"));
    let e = disk_of(3, "/i/b.img", "xvdb,target=/etc/shadow", "w").expect_err("not a word");
    assert!(matches!(e, HotplugError::Field { what: "vdev", .. }), "{e}");
    let e = disk_of(3, "/i/b.img", "xvdb", "w,devtype=cdrom").expect_err("not a word");
    assert!(matches!(e, HotplugError::Field { what: "mode", .. }), "{e}");
    let long = format!("/i/{}", "a".repeat(MAX_TARGET));
    let e = disk_of(3, &long, "xvdb", "w").expect_err("too long");
    assert!(
        matches!(e, HotplugError::Field { what: "target", .. }),
        "{e}"
    );
    let e = disk_of(3, "/i/b.img", "xvdb", "x").expect_err("no such mode");
    assert!(matches!(e, HotplugError::Spec { .. }), "{e}");
}

#[test]
fn a_state_file_without_attached_devices_reads_as_nothing_attached() {
    let dir = Scratch::new("hotplug-old-state");
    let p = dir.join("state.json");
    std::fs::write(
        &p,
        br#"{"domid":3,"uuid":"6f0c9a5e-1d2b-4c3d-9e8f-0123456789ab","source":"a","config":"","pid":1,"uid":1,"start_time":1,"started":1}"#,
    )
    .expect("old state");
    assert_eq!(read_state(&p).expect("read").attached, Attached::default());
}

#[path = "hotplug_changed_tests.rs"]
mod changed;
