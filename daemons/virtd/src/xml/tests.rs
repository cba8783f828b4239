//! What `virsh define` and `virsh dumpxml` see: the subset read, written
//! and read back to the same definition.

use xend::api::{DefAction, DefDisk, DefFormat, DefNic, DefNicModel, DefVnc, Definition};

use super::{parse, write};

/// A guest as a user writes it for `virsh define`, in libvirt's spelling.
pub(super) const EXAMPLE: &str = r#"<?xml version="1.0"?>
<!-- a guest for virsh define -->
<domain type='kvm'>
  <name>guest1</name>
  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>
  <memory unit='MiB'>512</memory>
  <currentMemory unit='KiB'>524288</currentMemory>
  <vcpu placement='static'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>/srv/guest/vmlinuz</kernel>
    <initrd>/srv/guest/initrd.img</initrd>
    <cmdline>console=ttyS0 root=/dev/sda1 quiet &amp; more</cmdline>
    <boot dev='hd'/>
    <boot dev='cdrom'/>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>preserve</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/srv/guest/disk.qcow2'/>
      <target dev='hda' bus='ide'/>
    </disk>
    <disk type='block' device='cdrom'>
      <source dev='/dev/sr0'/>
      <target dev='hdc'/>
      <readonly/>
    </disk>
    <interface type='bridge'>
      <mac address='00:16:3e:11:22:33'/>
      <source bridge='xenbr0'/>
      <model type='virtio'/>
    </interface>
    <interface type='user'/>
    <serial type='pty'>
      <target port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <graphics type='vnc' port='5901' autoport='no'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
  </devices>
</domain>
"#;

fn example_def() -> Definition {
    Definition {
        name: "guest1".to_string(),
        uuid: Some("4dea22b3-1d52-d8f3-2516-782e98ab3fa0".to_string()),
        memory_mib: 512,
        vcpus: 2,
        kernel: Some("/srv/guest/vmlinuz".to_string()),
        ramdisk: Some("/srv/guest/initrd.img".to_string()),
        cmdline: Some("console=ttyS0 root=/dev/sda1 quiet & more".to_string()),
        boot: "cd".to_string(),
        acpi: true,
        apic: true,
        on_poweroff: DefAction::Destroy,
        on_reboot: DefAction::Restart,
        on_crash: DefAction::Preserve,
        disks: vec![
            DefDisk {
                target: "/srv/guest/disk.qcow2".to_string(),
                format: DefFormat::Qcow2,
                vdev: "hda".to_string(),
                read_only: false,
                cdrom: false,
            },
            DefDisk {
                target: "/dev/sr0".to_string(),
                format: DefFormat::Raw,
                vdev: "hdc".to_string(),
                read_only: true,
                cdrom: true,
            },
        ],
        nics: vec![
            DefNic {
                bridge: Some("xenbr0".to_string()),
                mac: Some("00:16:3e:11:22:33".to_string()),
                model: DefNicModel::VirtioNet,
            },
            DefNic {
                bridge: None,
                mac: None,
                model: DefNicModel::E1000,
            },
        ],
        serial_pty: true,
        vnc: Some(DefVnc {
            listen: "127.0.0.1".to_string(),
            display: Some(1),
        }),
    }
}

/// The least a domain can say: everything else takes libvirt's defaults
/// (no <boot>: the first disk).
fn minimal_def() -> Definition {
    Definition {
        name: "m".to_string(),
        uuid: None,
        memory_mib: 1,
        vcpus: 1,
        kernel: None,
        ramdisk: None,
        cmdline: None,
        boot: "c".to_string(),
        acpi: false,
        apic: false,
        on_poweroff: DefAction::Destroy,
        on_reboot: DefAction::Restart,
        on_crash: DefAction::Destroy,
        disks: vec![],
        nics: vec![],
        serial_pty: false,
        vnc: None,
    }
}

fn round_trip(def: &Definition) {
    for id in [None, Some(7)] {
        let x = write(def, id);
        let back = parse(&x).unwrap_or_else(|e| panic!("{e}\n{x}"));
        assert_eq!(&back, def, "written as\n{x}");
        // And what is written is stable: dumpxml of a define of dumpxml.
        assert_eq!(write(&back, id), x);
    }
}

#[test]
fn the_example_reads_as_written() {
    assert_eq!(parse(EXAMPLE).expect("example"), example_def());
}

#[test]
fn the_example_round_trips() {
    round_trip(&example_def());
    let x = write(&parse(EXAMPLE).expect("example"), None);
    assert_eq!(parse(&x).expect("rewritten"), example_def());
}

#[test]
fn a_minimal_domain_takes_libvirts_defaults() {
    let x =
        "<domain type='xen'><name>m</name><memory>1024</memory><os><type>hvm</type></os></domain>";
    assert_eq!(parse(x).expect("minimal"), minimal_def());
    round_trip(&minimal_def());
}

#[test]
fn varied_definitions_round_trip() {
    let base = example_def();
    let mut cases = vec![base.clone(), minimal_def()];
    let mut d = base.clone();
    d.vnc = Some(DefVnc {
        listen: "0.0.0.0".to_string(),
        display: None,
    });
    d.serial_pty = false;
    d.nics.clear();
    cases.push(d);
    let mut d = minimal_def();
    d.name = "odd <&'\"> name".to_string();
    d.cmdline = Some("a\tb\r\nc  ".to_string());
    d.boot = "ndc".to_string();
    d.memory_mib = 65536;
    d.vcpus = 64;
    d.on_poweroff = DefAction::Preserve;
    d.on_reboot = DefAction::Destroy;
    d.on_crash = DefAction::Restart;
    d.acpi = true;
    cases.push(d);
    let mut d = minimal_def();
    d.apic = true;
    d.cmdline = Some(String::new());
    d.disks = vec![DefDisk {
        target: "/var/lib/xvm/a b'c.img".to_string(),
        format: DefFormat::Raw,
        vdev: "xvda".to_string(),
        read_only: true,
        cdrom: false,
    }];
    d.nics = vec![DefNic {
        bridge: None,
        mac: Some("AA:bb:CC:00:11:22".to_string()),
        model: DefNicModel::Rtl8139,
    }];
    d.vnc = Some(DefVnc {
        listen: "::1".to_string(),
        display: Some(0),
    });
    cases.push(d);
    for c in &cases {
        round_trip(c);
    }
}

#[test]
fn a_running_domain_shows_its_id_and_parse_ignores_it() {
    let x = write(&example_def(), Some(12));
    assert!(x.starts_with("<domain type='xen' id='12'>"), "{x}");
    assert_eq!(parse(&x).expect("with id"), example_def());
}

#[test]
fn units_and_spellings_libvirt_accepts() {
    let with = |mem: &str, extra: &str| {
        format!("<domain type='qemu'><name>u</name>{mem}<os><type>hvm</type></os>{extra}</domain>")
    };
    for (mem, mib) in [
        ("<memory unit='GiB'>2</memory>", 2048),
        (
            "<memory unit='G'>1</memory><currentMemory unit='MiB'>1024</currentMemory>",
            1024,
        ),
        ("<memory unit='b'>1048576</memory>", 1),
        ("<memory unit='bytes'>2097152</memory>", 2),
        ("<memory unit='KB'>1048576</memory>", 1000),
        ("<memory unit='TiB'>1</memory>", 1 << 20),
        ("<memory> 2048 </memory>", 2),
    ] {
        let def = parse(&with(mem, "")).unwrap_or_else(|e| panic!("{mem}: {e}"));
        assert_eq!(def.memory_mib, mib, "{mem}");
    }
    let def = parse(&with(
        "<memory unit='MiB'>64</memory>",
        "<devices><graphics type='vnc' autoport='yes' listen='10.0.0.1'/></devices>",
    ))
    .expect("vnc");
    assert_eq!(
        def.vnc,
        Some(DefVnc {
            listen: "10.0.0.1".to_string(),
            display: None
        })
    );
    let def = parse(&with(
        "<memory unit='MiB'>64</memory>",
        "<devices><graphics type='vnc' port='5900'/><console type='pty'/></devices>",
    ))
    .expect("vnc port, a console alone");
    assert_eq!(
        def.vnc,
        Some(DefVnc {
            listen: "127.0.0.1".to_string(),
            display: Some(0)
        })
    );
    assert!(def.serial_pty, "a console alone is the serial pty");
}
