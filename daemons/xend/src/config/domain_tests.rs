//! DomainConfig's reading of each key, its refusals placed where they
//! are written, and to_text's round trip.

use std::path::{Path, PathBuf};

use super::*;
use crate::config::{
    Disk, Fault, Format, Mac, NicModel, SyntaxFault, Value, Vif, parse_statements,
};

const GOOD: &str = r#"# a test guest
name = "guest1"
type = "hvm"
memory = 64 ; vcpus = 2
uuid = "6F0C9A5E-1D2B-4C3D-9E8F-0123456789AB"
disk = [ '/var/lib/xend/storage/a.img,raw,hda,rw',
     "format=qcow2, vdev=hdb, access=ro, target=/images/b,c.qcow2", ]
disk += [ 'vdev=hdc,devtype=cdrom,target=/images/cd.iso' ]
serial = "pty"
vnc = 1
vnclisten = "127.0.0.1"
on_crash = 'preserve'
vif = [ '', 'bridge=xenbr1, mac=00:16:3E:01:02:03,model=virtio,ip=10.0.0.2,script=vif-bridge' ]
viridian = 1
"#;

#[test]
fn reads_the_keys_it_runs() {
    let c = parse(Path::new("g.cfg"), GOOD).expect("parses");
    assert_eq!((c.name.as_str(), c.memory_mib, c.vcpus), ("guest1", 64, 2));
    assert_eq!(
        c.uuid.as_deref(),
        Some("6f0c9a5e-1d2b-4c3d-9e8f-0123456789ab")
    );
    assert_eq!(c.disks.len(), 3);
    assert_eq!(
        c.disks[0].target,
        PathBuf::from("/var/lib/xend/storage/a.img")
    );
    assert_eq!(
        (c.disks[1].format, c.disks[1].read_only),
        (Format::Qcow2, true)
    );
    assert_eq!(c.disks[1].target, PathBuf::from("/images/b,c.qcow2"));
    assert!(c.disks[2].cdrom && c.disks[2].read_only);
    assert!(c.vnc);
    assert_eq!(c.on_crash, Action::Preserve);
    assert_eq!(
        c.vifs,
        [
            Vif {
                bridge: None,
                mac: None,
                model: NicModel::E1000
            },
            Vif {
                bridge: Some("xenbr1".into()),
                mac: Some(Mac([0, 0x16, 0x3e, 1, 2, 3])),
                model: NicModel::VirtioNet
            }
        ]
    );
    assert_eq!(
        c.unsupported,
        [
            (
                "vif:ip".to_string(),
                Pos {
                    line: 13,
                    column: 13
                }
            ),
            (
                "viridian".to_string(),
                Pos {
                    line: 14,
                    column: 1
                }
            )
        ]
    );
    // What -n prints parses back to the same.
    let again = parse(Path::new("x"), &c.to_text()).expect("round trip");
    assert_eq!(again.disks, c.disks);
    assert_eq!(again.name, c.name);
    assert_eq!(again.vifs, c.vifs);
}

#[test]
fn errors_name_the_place() {
    let cases: [(&str, &str); 9] = [
        (
            "name = \"a\"\ntype = \"hvm\"\nmemory = = 5\n",
            "g:3:10: expected a value, found =",
        ),
        (
            "name = \"a\ntype = \"hvm\"\n",
            "g:1:8: string not closed on its line",
        ),
        (
            "name = \"a\"\ntype = \"hvm\"\ndisk = [ 'x,raw' \n",
            "g:3:8: this [ is never closed",
        ),
        (
            "name = \"a\"\ntype = \"pv\"\n",
            "g:2:1: type = \"pv\": PV guests are not supported here",
        ),
        ("name = \"a\"\n", "g:1:1: no type = \"hvm\""),
        (
            "name = \"a\"\ntype = \"hvm\"\nfrobnicate = 1\n",
            "g:3:1: unknown key \"frobnicate\"",
        ),
        (
            "name = \"a\"\ntype = \"hvm\"\nmemory = 12abc\n",
            "g:3:10: \"12abc\" is not a number",
        ),
        ("name = \"a b\"\ntype = \"hvm\"\n", "g:1:1: name \"a b\""),
        (
            "name = \"a\"\ntype = \"hvm\"\ndisk = [ 'only-a-target' ]\n",
            "g:3:10: disk \"only-a-target\": no vdev",
        ),
    ];
    for (text, want) in cases {
        let e = parse(Path::new("g"), text).expect_err(want).to_string();
        assert!(e.starts_with(want), "want {want}, got {e}");
    }
}

const HEAD: &str = "name = \"a\"\ntype = \"hvm\"\n";

fn refused(text: &str) -> String {
    parse(Path::new("g"), &format!("{HEAD}{text}"))
        .expect_err(text)
        .to_string()
}

#[test]
fn control_characters_are_refused_where_written() {
    // The fuzzer's input: a newline escaped into a disk target.
    let e = refused("disk = [ \"/a\\nb,raw,hda,rw\" ]\n");
    assert!(
        e.starts_with(
            "g:3:10: disk \"/a\\nb,raw,hda,rw\": a control character (U+000A) has no place"
        ),
        "{e}"
    );
    // The error is one line: the newline is shown escaped.
    assert!(!e.contains('\n'), "{e}");
    // A tab, a carriage return, DEL and a C1 control (written raw),
    // in a later item of a list, in a path given as target=.
    for c in ["\\t", "\\r", "\u{7f}", "\u{85}"] {
        let e = refused(&format!(
            "disk = [ '/a,raw,hda,rw',\n  'vdev=hdb,target=/b{c}c' ]\n"
        ));
        assert!(
            e.starts_with("g:4:3: disk ") && e.contains("control character"),
            "{e}"
        );
    }
    // Names, vnclisten and every other value acted on, placed at the key.
    for (text, want) in [
        (
            "name = \"a\\n\"\n",
            "g:3:1: name \"a\\n\": a control character (U+000A)",
        ),
        (
            "vnclisten = \"127.0.0.1\\n\"\n",
            "g:3:1: vnclisten \"127.0.0.1\\n\": a control",
        ),
        (
            "serial = [ \"pty\\r\" ]\n",
            "g:3:12: serial \"pty\\r\": a control",
        ),
        ("memory = \"64\\n\"\n", "g:3:1: memory \"64\\n\": a control"),
        (
            "on_crash = \"restart\\t\"\n",
            "g:3:1: on_crash \"restart\\t\": a control",
        ),
    ] {
        let e = refused(text);
        assert!(e.starts_with(want), "want {want}, got {e}");
    }
    // Keys not acted on are reported, not read: what they hold is no matter.
    let c = parse(Path::new("g"), &format!("{HEAD}vga = \"a\\nb\"\n")).expect("vga");
    assert_eq!(c.unsupported[0].0, "vga");
}

#[test]
fn direct_kernel_boot_keys_are_read() {
    let c = parse(
        Path::new("g"),
        &format!(
            "{HEAD}kernel = '/img/vmlinuz'\nramdisk = '/img/initrd'\ncmdline = 'console=ttyS0'\n"
        ),
    )
    .expect("parses");
    assert_eq!(c.kernel.as_deref(), Some("/img/vmlinuz"));
    assert_eq!(c.ramdisk.as_deref(), Some("/img/initrd"));
    assert_eq!(c.cmdline.as_deref(), Some("console=ttyS0"));
    assert_eq!(parse(Path::new("g"), &c.to_text()).expect("again"), c);
    // The legacy root and extra make the command line when cmdline is not given.
    let c = parse(
        Path::new("g"),
        &format!("{HEAD}kernel = '/k'\nroot = '/dev/sda1'\nextra = 'quiet'\n"),
    )
    .expect("parses");
    assert_eq!(c.cmdline.as_deref(), Some("root=/dev/sda1 quiet"));
    // Refusals, placed at the key.
    for (text, want) in [
        (
            "kernel = 'vmlinuz'\n",
            "g:3:1: kernel = \"vmlinuz\": an absolute path",
        ),
        ("ramdisk = '/i'\n", "g:3:1: ramdisk needs kernel"),
        ("cmdline = 'quiet'\n", "g:3:1: cmdline needs kernel"),
        (
            "kernel = '/k'\ncmdline = 'a\\nb'\n",
            "g:4:1: cmdline \"a\\nb\": a control",
        ),
    ] {
        let e = refused(text);
        assert!(e.starts_with(want), "want {want}, got {e}");
    }
}

#[test]
fn serial_on_tcp_is_read_and_checked() {
    for (v, addr) in [
        ("tcp:127.0.0.1:4555", "127.0.0.1:4555"),
        ("tcp:localhost:4555", "127.0.0.1:4555"),
        ("telnet:127.0.0.1:4556,server,nowait", "127.0.0.1:4556"),
        ("tcp:[::1]:4557", "[::1]:4557"),
        ("tcp:[::ffff:127.0.0.1]:4559", "127.0.0.1:4559"),
        ("tcp:0.0.0.0:4558", "0.0.0.0:4558"),
    ] {
        let c = parse(Path::new("g"), &format!("{HEAD}serial = '{v}'\n")).expect(v);
        let t = c.serial_tcp.clone().expect("tcp");
        assert_eq!(t.addr().to_string(), addr, "{v}");
        assert_eq!(t.is_loopback(), !addr.starts_with("0.0.0.0"), "{v}");
        assert_eq!(parse(Path::new("g"), &c.to_text()).expect("again"), c);
    }
    for (v, why) in [
        ("file:/tmp/x", "pty (the console daemon's), none, tcp:"),
        ("tcp:127.0.0.1", "PORT is a number"),
        ("tcp:127.0.0.1:0", "PORT is a number"),
        ("tcp:127.0.0.1:65536", "PORT is a number"),
        ("tcp:example.org:23", "HOST is an IPv4"),
        ("tcp:[::1:23", "HOST is an IPv4"),
        ("telnet:127.0.0.1:23,server,wait", "option \"wait\""),
    ] {
        let e = refused(&format!("serial = '{v}'\n"));
        assert!(
            e.starts_with(&format!("g:3:1: serial = \"{v}\": {why}")),
            "{v}: {e}"
        );
    }
}

#[test]
fn vnclisten_is_checked_in_full() {
    for good in [
        "127.0.0.1",
        "0.0.0.0:5900",
        "localhost",
        "localhost:0",
        "[::1]",
        "[::1]:65535",
        "[fe80::1]:5",
    ] {
        let c = parse(
            Path::new("g"),
            &format!("{HEAD}vnc = 1\nvnclisten = '{good}'\n"),
        )
        .unwrap_or_else(|e| panic!("{good}: {e}"));
        assert_eq!(c.vnclisten, good);
    }
    // The fuzzer's input: a quote after the colon.
    let e = refused("vnc = 1\nvnclisten = \"127.0.0.1:\\\"x\"\n");
    assert!(
        e.starts_with("g:4:1: vnclisten \"127.0.0.1:\\\"x\" is not HOST[:PORT]: the port"),
        "{e}"
    );
    // A quote, then a newline and a statement of the writer's choice.
    let e = refused("vnc = 1\nvnclisten = \"127.0.0.1:\\\"\\non_crash = \\\"restart\"\n");
    assert!(
        e.starts_with("g:4:1: vnclisten ") && e.contains("U+000A"),
        "{e}"
    );
    for bad in [
        "",
        ":5900",
        "127.0.0.1:",
        "127.0.0.1:x",
        "127.0.0.1:5900x",
        "127.0.0.1:5:6",
        "127.0.0.1:65536",
        "127.0.0.1:+5",
        "127.0.0.1:-5",
        "127.0.0.1 ",
        " 127.0.0.1",
        "127.0.0.1/8",
        "01.2.3.4",
        "localhost.",
        "example.org",
        "::1",
        "::1:5900",
        "[::1",
        "[::1]5900",
        "[::1]:",
        "[127.0.0.1]",
        "[fe80::1%eth0]",
        "127.0.0.1:'x",
        "127.0.0.1:\\\\",
    ] {
        let e = refused(&format!("vnclisten = \"{bad}\"\n"));
        assert!(
            e.starts_with("g:3:1: vnclisten ") && e.contains("HOST[:PORT]"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn to_text_reads_back_as_the_same_config() {
    let texts = [
        GOOD,
        // Quotes, backslashes, commas, '=' and non-ASCII in paths,
        // both forms; a cdrom; every key with a value to print.
        concat!(
            "name = 'x.y-z_1'\ntype = 'hvm'\nuuid = '6f0c9a5e-1d2b-4c3d-9e8f-0123456789ab'\n",
            "memory = 0x100\nvcpus = '3'\n",
            "disk = [ \"/x/it's \\\\ \\\"q\\\" .img,qcow2,xvda,w\",\n",
            "  'vdev=hdb, access=ro, target= /y/a,b=c, \\\\\\' é ',\n",
            "  \"/z/\\\"\\\\,raw,sdc:cdrom,rw\", 'devtype=cdrom,vdev=hdd,target=target=t' ]\n",
            "serial = 'none'\nvnc = 1\nvnclisten = '[::1]:5901'\nvncdisplay = 99\n",
            "on_poweroff = 'restart'\non_crash = 'restart'\n",
        ),
        // The fuzzer's seeds for the two holes, made good.
        "name = \"a\"\ntype = \"hvm\"\ndisk = [ \"/a\\\\nb,raw,hda,rw\" ]\n",
        "name = \"a\"\ntype = \"hvm\"\nvnc = 1\nvnclisten = \"localhost:5900\"\n",
    ];
    for text in texts {
        let mut c = parse(Path::new("g"), text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        c.unsupported.clear();
        let printed = c.to_text();
        let again = parse(Path::new("p"), &printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
        assert_eq!(again, c, "{printed}");
        assert_eq!(again.to_text(), printed);
    }
    let c = parse(Path::new("g"), texts[1]).expect("parses");
    assert_eq!(c.disks[0].target, Path::new("/x/it's \\ \"q\" .img"));
    assert_eq!(c.disks[1].target, Path::new("/y/a,b=c, \\' é"));
    assert_eq!(c.disks[2].target, Path::new("/z/\"\\"));
    assert_eq!(c.disks[3].target, Path::new("target=t"));
    assert_eq!(c.vnclisten, "[::1]:5901");
}

#[test]
fn to_text_adds_no_statement_whatever_a_config_holds() {
    // Built, not parsed: what parse refuses is still printed escaped.
    let evil = "127.0.0.1:\"\non_crash = \"restart\"\n#";
    let mut c = parse(Path::new("g"), &format!("{HEAD}vnc = 1\n")).expect("parses");
    c.name = format!("a\"\ntype = \"pv{evil}");
    c.vnclisten = evil.into();
    c.serial = format!("pty\u{1}\u{85}\r\t\\{evil}");
    c.disks.push(Disk {
        target: PathBuf::from(format!("/a\nb'\\{evil}")),
        format: Format::Raw,
        vdev: "hda".into(),
        read_only: false,
        cdrom: false,
    });
    let printed = c.to_text();
    // Each statement on its line, no more: the control characters the
    // lexer has no escape for are printed as \u{..}, which it refuses.
    let keys: Vec<&str> = printed
        .lines()
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "type",
            "memory",
            "vcpus",
            "disk",
            "boot",
            "acpi",
            "apic",
            "usb",
            "serial",
            "vnc",
            "vnclisten",
            "on_poweroff",
            "on_reboot",
            "on_crash"
        ],
        "{printed}"
    );
    assert!(printed.contains("\\u{1}\\u{85}\\r\\t\\\\"), "{printed}");
    let e = parse_statements(Path::new("p"), &printed).expect_err("\\u");
    assert_eq!(e.pos.line, 10, "{e}");
    assert!(
        matches!(e.fault, Fault::Syntax(SyntaxFault::UnknownEscape('u'))),
        "{e:?}"
    );
    // Without them every string reads back as it was, and parse
    // refuses the config for the control characters it holds.
    c.serial = format!("pty\r\t\\{evil}");
    let printed = c.to_text();
    let stmts = parse_statements(Path::new("p"), &printed).expect("statements");
    let get = |k: &str| stmts.iter().find(|s| s.0 == k).map(|s| s.1.clone());
    assert_eq!(get("vnclisten"), Some(Value::Str(evil.into())));
    assert_eq!(get("name"), Some(Value::Str(c.name.clone())));
    assert_eq!(get("serial"), Some(Value::Str(c.serial.clone())));
    assert_eq!(get("on_crash"), Some(Value::Str("destroy".into())));
    assert_eq!(stmts.len(), 15);
    let e = parse(Path::new("p"), &printed).expect_err("controls");
    assert_eq!(e.pos, Pos::START, "{e}");
    assert!(
        matches!(&e.fault, Fault::Domain(DomainFault::ControlChar { key, .. }) if key == "name"),
        "{e:?}"
    );
}

#[test]
fn one_disk_a_slot_and_on_reboot_only_restart() {
    let two = "name = \"a\"\ntype = \"hvm\"\ndisk = [ '/a,raw,hda,rw', '/b,raw,xvda,rw' ]\n";
    let e = parse(Path::new("g"), two)
        .expect_err("same slot")
        .to_string();
    assert!(
        e.starts_with("g:3:") && e.contains("another disk has slot xvda"),
        "{e}"
    );
    let e = parse(
        Path::new("g"),
        "name = \"a\"\ntype = \"hvm\"\non_reboot = \"destroy\"\n",
    )
    .expect_err("on_reboot")
    .to_string();
    assert!(
        e.starts_with("g:3:1: on_reboot = \"destroy\": only restart"),
        "{e}"
    );
    // A quote in a path survives the round trip through to_text.
    let q = "name = \"a\"\ntype = \"hvm\"\ndisk = [ \"/x/it's.img,raw,hda,rw\" ]\n";
    let c = parse(Path::new("g"), q).expect("quote");
    let again = parse(Path::new("g"), &c.to_text()).expect("round trip");
    assert_eq!(again.disks[0].target, Path::new("/x/it's.img"));
}

#[test]
fn hvmloader_as_the_kernel_is_named_and_not_booted() {
    for k in [
        "/usr/lib/xen/boot/hvmloader",
        "/usr/lib/xen-4.17/boot/hvmloader",
    ] {
        let c = parse(Path::new("g"), &format!("{HEAD}kernel = '{k}'\n")).expect(k);
        assert_eq!(c.kernel, None);
        assert_eq!(
            c.unsupported,
            [("kernel=hvmloader".to_string(), Pos { line: 3, column: 1 })]
        );
    }
    // A kernel that only ends so is booted as written.
    let c = parse(
        Path::new("g"),
        &format!("{HEAD}kernel = '/i/my-hvmloader'\n"),
    )
    .expect("k");
    assert_eq!(c.kernel.as_deref(), Some("/i/my-hvmloader"));
    // The kernel's own keys still need a kernel to boot.
    let e = refused("kernel = '/usr/lib/xen/boot/hvmloader'\nextra = 'quiet'\n");
    assert!(e.starts_with("g:4:1: extra needs kernel"), "{e}");
}

#[test]
fn legacy_disk_refusals_are_placed_at_their_spec() {
    for (text, want) in [
        (
            "disk = [ 'phy:/dev/vg0/a,hda,w',\n  ',hdc:cdrom,r' ]\n",
            "g:4:3: disk \",hdc:cdrom,r\": an empty CD-ROM drive (no target) is not supported here",
        ),
        (
            "disk = [ 'vhd:/a.vhd,hda,w' ]\n",
            "g:3:10: disk \"vhd:/a.vhd,hda,w\": format vhd is not supported (raw, qcow2)",
        ),
        (
            "disk = [ 'nbd:host:1234,hda,w' ]\n",
            "g:3:10: disk \"nbd:host:1234,hda,w\": prefix \"nbd:\" names a block script",
        ),
        (
            "disk = [ 'xen:/a,hda,w' ]\n",
            "g:3:10: disk \"xen:/a,hda,w\": prefix \"xen:\" is none of phy:, file:",
        ),
        (
            "disk = [ 'qcow2:/a,raw,hda,w' ]\n",
            "g:3:10: disk \"qcow2:/a,raw,hda,w\": two formats: qcow2 and raw",
        ),
        (
            "disk = [ 'phy:/dev/a,hda,w', 'file:/b,xvda,w' ]\n",
            "g:3:30: disk \"file:/b,xvda,w\": another disk has slot xvda",
        ),
    ] {
        let e = refused(text);
        assert!(e.starts_with(want), "want {want}\n got {e}");
    }
}

#[test]
fn to_text_escapes_the_machine_keys_too() {
    // Built, not parsed: a bridge, a boot order and a privilege no parse
    // lets through are printed each in its string, on its line.
    let evil = "x\"\non_crash = \"restart\"\n#";
    let mut c = parse(Path::new("g"), HEAD).expect("parses");
    c.vifs.push(Vif {
        bridge: Some(evil.into()),
        mac: None,
        model: NicModel::E1000,
    });
    c.boot = evil.into();
    c.dm_privileges = vec![evil.into(), "proc_lock_memory".into()];
    c.maxvcpus = Some(4);
    let printed = c.to_text();
    let keys: Vec<&str> = printed
        .lines()
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "type",
            "memory",
            "vcpus",
            "maxvcpus",
            "vif",
            "boot",
            "acpi",
            "apic",
            "usb",
            "serial",
            "vnc",
            "on_poweroff",
            "on_reboot",
            "on_crash",
            "device_model_privileges"
        ],
        "{printed}"
    );
    let stmts = parse_statements(Path::new("p"), &printed).expect("statements");
    let get = |k: &str| stmts.iter().find(|s| s.0 == k).map(|s| s.1.clone());
    assert_eq!(get("boot"), Some(Value::Str(evil.into())));
    assert_eq!(get("on_crash"), Some(Value::Str("destroy".into())));
    let Some(Value::List(v)) = get("vif") else {
        panic!("{printed}")
    };
    assert_eq!(v[0].0, Value::Str(format!("bridge={evil},model=e1000")));
    // And parse refuses what it holds, at its place.
    let e = parse(Path::new("p"), &printed).expect_err("controls");
    assert_eq!(e.pos.line, 6, "{e}");
    assert!(
        matches!(&e.fault, Fault::Domain(DomainFault::ControlChar { key, .. }) if key == "vif"),
        "{e:?}"
    );
}
