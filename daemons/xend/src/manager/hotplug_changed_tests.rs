//! Hot-plug into a domain whose id another domain took while the request
//! waited: the QMP socket at its path is served by another process than
//! the device model recorded under the lock, and is sent nothing.

use super::*;

#[test]
fn a_domain_whose_qmp_socket_another_process_serves_is_sent_nothing() {
    // The fake qemu listens in this process: its socket is served by us.
    let me = i32::try_from(std::process::id()).expect("pid");
    let dir = Scratch::new("hotplug-changed");
    let mut m = manager(dir.path(), WEB);
    let e = m.device_model_of("web").expect_err("no device model");
    assert!(matches!(e, HotplugError::NotRunning { domid: 3 }), "{e:?}");
    let d = m.domains.get_mut(&3).expect("3");
    let at = Target {
        domid: 3,
        uuid: d.uuid.clone(),
        dir: d.dir.clone(),
    };
    let plug = |qemu: i32, disk: bool| {
        let _ = std::fs::remove_file(at.dir.join("qmp"));
        let fake = fake(&at.dir, all_well);
        let r = if disk {
            unplug_disk(&at, &hot_disk(), qemu)
        } else {
            unplug_nic(&at, &hot_nic(), qemu)
        };
        (r, names(&fake.join().expect("fake")).len())
    };
    // Recorded under the lock: domain 3's device model was pid 1; the
    // socket at its path now is another domain's (ours).
    d.child = Some(privlib::Child::adopt(1).expect("pid 1"));
    for disk in [true, false] {
        let (r, sent) = plug(m.device_model_of("3").expect("running"), disk);
        let e = r.expect_err("another domain");
        assert!(
            matches!(&e, HotplugError::Connect { domid: 3, source: QmpError::Changed { want: 1, got, .. }, .. } if *got == me),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .contains("the domain changed while the request waited; nothing was sent"),
            "{e}"
        );
        assert_eq!(sent, 0);
    }
    m.domains.get_mut(&3).expect("3").child = Some(privlib::Child::adopt(me).expect("me"));
    let (r, sent) = plug(m.device_model_of("3").expect("running"), true);
    r.expect("the recorded device model's own socket");
    assert!(sent > 1);
}
