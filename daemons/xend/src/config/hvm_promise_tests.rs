//! The parser's promises (as the fuzz target, fuzz/fuzz_targets/xl_cfg.rs,
//! checks them) kept over changed configs with every machine key and the
//! xm-era syntax: each error and key not acted on placed in the text, and
//! what parses printed back as the same config.

use std::path::Path;

use crate::config::parse;

/// Whether 1-based `line` and `column` name a character of `text` or the
/// place just past the end of a line (as the fuzz target checks).
fn inside(text: &str, line: u32, column: u32) -> bool {
    let (Ok(line), Ok(column)) = (usize::try_from(line), usize::try_from(column)) else {
        return false;
    };
    line > 0
        && column > 0
        && text
            .split('\n')
            .nth(line - 1)
            .is_some_and(|l| column <= l.chars().count() + 1)
}

/// Whether `text` keeps the fuzz target's promises
/// (fuzz/fuzz_targets/xl_cfg.rs): an error is placed in the text, a key
/// not acted on too, and what parses prints as text that reads back the
/// same and prints the same again. Whether it parsed.
fn keeps_the_promises(text: &str) -> bool {
    let c = match parse(Path::new("f"), text) {
        Ok(c) => c,
        Err(e) => {
            assert!(
                inside(text, e.pos.line, e.pos.column),
                "{e} outside {text:?}"
            );
            return false;
        }
    };
    for (k, p) in &c.unsupported {
        assert!(inside(text, p.line, p.column), "{k} {p:?} in {text:?}");
    }
    // What to_text leaves out (as the fuzz target's `kept`).
    let mut kept = c.clone();
    kept.unsupported.clear();
    if !kept.vnc {
        kept.vnclisten = "127.0.0.1".into();
        kept.vncdisplay = None;
    }
    let printed = kept.to_text();
    let again =
        parse(Path::new("p"), &printed).unwrap_or_else(|e| panic!("{e}\n{printed}\nfrom {text:?}"));
    assert_eq!(again, kept, "{printed}\nfrom {text:?}");
    assert_eq!(again.to_text(), printed);
    true
}

const MACHINE: &str = concat!(
    "name = 'm'\ntype = 'hvm'\nvcpus = 2\nmaxvcpus = 3\nboot = 'dc'\nacpi = 0\napic = 1\n",
    "usb = 1\nusbdevice = [ 'tablet', 'mouse' ]\nsdl = 1\n",
    "vif = [ 'bridge=xenbr0,mac=00:16:3e:0a:0b:0c,model=virtio,ip=1.2.3.4', '' ]\n",
    "disk = [ 'phy:/dev/vg0/m,hda,w', 'tap:qcow2:/i/m.qcow2,xvdb,r', ",
    "'file:/iso/m.iso,hdc:cdrom,r' ]\n",
    "device_model_privileges = 'proc_lock_memory'\n",
);

const XM_ERA: &str = concat!(
    "builder = 'hvm'\nname = 'w'\nvif = [ 'type=ioemu,script=vif-bridge,trusted,rate=1Mb/s' ]\n",
    "disk = [ 'file:/i.iso,hdc:cdrom,r', 'raw:/a,hda,w', 'vdev=hdb,target=phy:/x' ]\n",
    "usbdevice = 'keyboard'\nvnc = 1\nvnclisten = '[::1]:5900'\nserial = 'tcp:127.0.0.1:4555'\n",
    "kernel = '/usr/lib/xen/boot/hvmloader'\n",
);

/// The promises kept over every one-byte change (a character replaced,
/// or one inserted) of a config with every machine key.
#[test]
fn every_small_change_of_a_machine_config_keeps_the_parsers_promises() {
    let subs = [
        "", ",", ":", "=", "'", "\"", "\n", "[", "0", "f", "a", "c", "\\n", " ", "é",
    ];
    let mut parsed = 0;
    for (base, i) in [MACHINE, XM_ERA].into_iter().flat_map(|b| {
        (0..b.len())
            .filter(|i| b.is_char_boundary(*i))
            .map(move |i| (b, i))
    }) {
        let next = (i + 1..=base.len())
            .find(|j| base.is_char_boundary(*j))
            .unwrap_or(base.len());
        for s in subs {
            for text in [
                format!("{}{s}{}", &base[..i], &base[next..]),
                format!("{}{s}{}", &base[..i], &base[i..]),
            ] {
                parsed += usize::from(keeps_the_promises(&text));
            }
        }
    }
    assert!(parsed > 2000, "{parsed}");
}

/// The promises kept over many changes of a few words each, at places a
/// fixed generator picks (the same run every time): the words the
/// machine keys are made of, spliced into and cut out of both configs.
#[test]
fn many_spliced_changes_keep_the_parsers_promises() {
    let words = [
        "bridge=",
        "mac=",
        "model=",
        "ip=",
        "type=vif",
        "script=vif-route",
        "00:16:3e:",
        "virtio",
        ",",
        "'",
        "\"",
        " ",
        "\n",
        "[",
        "]",
        "phy:",
        "file:",
        "tap:aio:",
        "qcow2:",
        "raw:",
        "vhd:",
        ":cdrom",
        "hdc",
        "xvda",
        "target=",
        "format=",
        "cdrom",
        "boot = ",
        "'dcn'",
        "usbdevice = ",
        "'tablet'",
        "maxvcpus = 1",
        "vcpus = 128",
        "sdl = 1",
        "vnc = 0",
        "device_model_privileges = ",
        "'sys_admin'",
        "'priv_proc_lock_memory'",
        "none",
        "kernel = '/k'",
        "hvmloader",
        "+=",
        "#",
        ";",
        "=",
        "é",
        "\\",
        "0x10",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
    };
    let mut parsed = 0;
    for round in 0..6000 {
        let mut text = String::from(if round % 2 == 0 { MACHINE } else { XM_ERA });
        for _ in 0..1 + next(3) {
            let at = (0..=text.len())
                .filter(|i| text.is_char_boundary(*i))
                .nth(next(text.chars().count() + 1))
                .unwrap_or(0);
            if next(3) == 0 {
                let end = (at + 1 + next(6)..=text.len())
                    .find(|j| text.is_char_boundary(*j))
                    .unwrap_or(text.len());
                text.replace_range(at..end, "");
            } else {
                text.insert_str(at, words[next(words.len())]);
            }
        }
        parsed += usize::from(keeps_the_promises(&text));
    }
    assert!(parsed > 200, "{parsed}");
}
