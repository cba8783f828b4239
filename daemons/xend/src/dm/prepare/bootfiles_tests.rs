//! The kernel and ramdisk of a direct kernel boot through prepare on a
//! made-up host (prepare's tests' [`Fake`]): opened read-only beneath an
//! image directory or refused naming the file, passed to qemu by its own
//! fds, and given as a nameless read-only copy to a device model that may
//! not read them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::config::{self, DomainConfig};
use crate::disk::{DiskError, ImageKind};
use crate::dm::prepare::tests::{Fake, refused};
use crate::dm::prepare::{OpenImage, PrepareError};

/// The config of a direct kernel boot of `kernel` and `ramdisk` (no disk).
fn direct_boot(kernel: &Path, ramdisk: &Path) -> DomainConfig {
    let text = format!(
        "name = \"g\"\ntype = \"hvm\"\nmemory = 32\nkernel = '{}'\nramdisk = '{}'\ncmdline = 'console=ttyS0'\n",
        kernel.display(),
        ramdisk.display()
    );
    config::parse(Path::new("g.cfg"), &text).expect("config")
}

#[test]
fn a_kernel_and_ramdisk_beneath_an_image_directory_are_opened_read_only() {
    let f = Fake::new("boot");
    let (kernel, ramdisk) = (f.root.join("images/vmlinuz"), f.root.join("images/initrd"));
    std::fs::write(&kernel, b"kernel").expect("kernel");
    std::fs::write(&ramdisk, b"ramdisk").expect("ramdisk");
    let c = direct_boot(&kernel, &ramdisk);
    let p = f.prepared(&c);
    let boot: Vec<(ImageKind, String)> = p
        .disks
        .iter()
        .filter_map(|d| match d {
            OpenImage::Boot(kind, fd) => {
                use std::os::fd::AsRawFd;
                let fdinfo =
                    std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
                        .expect("fdinfo");
                Some((*kind, fdinfo))
            }
            OpenImage::Disk(_) => None,
        })
        .collect();
    let kinds: Vec<ImageKind> = boot.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, [ImageKind::Kernel, ImageKind::Ramdisk]);
    for (kind, fdinfo) in &boot {
        // flags: octal, the access mode in the low two bits (0: O_RDONLY).
        let flags = fdinfo
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
            .expect("flags");
        assert_eq!(flags & 3, 0, "{kind} opened read-only: {fdinfo}");
    }
}

/// prepare's refusal of the boot files, a `DiskError` naming `kind` and
/// `path`.
fn boot_refused(f: &Fake, c: &DomainConfig, kind: &str, path: &Path) -> DiskError {
    let e = refused(&f.settings(), &f.host(), c);
    let text = e.to_string();
    assert!(
        text.contains(&format!("{kind} {}", path.display())),
        "the message names the {kind} {}: {text}",
        path.display()
    );
    match e {
        PrepareError::Disk { source, .. } => source,
        other => panic!("not a refused {kind}: {other:?}"),
    }
}

#[test]
fn a_kernel_outside_the_image_directories_is_refused() {
    let f = Fake::new("kernel-outside");
    let kernel = f.root.join("vmlinuz");
    std::fs::write(&kernel, b"kernel").expect("kernel");
    let c = direct_boot(&kernel, &f.image());
    let e = boot_refused(&f, &c, "kernel", &kernel);
    assert!(matches!(e, DiskError::Outside { .. }), "{e:?}");
}

#[test]
fn a_kernel_through_a_symlink_is_refused_even_to_a_file_inside() {
    let f = Fake::new("kernel-symlink");
    let real = f.root.join("images/vmlinuz-real");
    std::fs::write(&real, b"kernel").expect("kernel");
    let link = f.root.join("images/vmlinuz");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let c = direct_boot(&link, &f.image());
    let e = boot_refused(&f, &c, "kernel", &link);
    assert!(matches!(e, DiskError::Symlink { .. }), "{e:?}");
}

#[test]
fn a_missing_ramdisk_or_one_that_is_not_a_file_is_refused() {
    let f = Fake::new("ramdisk-missing");
    let kernel = f.root.join("images/vmlinuz");
    std::fs::write(&kernel, b"kernel").expect("kernel");
    let missing = f.root.join("images/initrd");
    let e = boot_refused(&f, &direct_boot(&kernel, &missing), "ramdisk", &missing);
    assert!(matches!(e, DiskError::Open { .. }), "{e:?}");
    let dir = f.root.join("images/initrd.d");
    std::fs::create_dir(&dir).expect("dir");
    let e = boot_refused(&f, &direct_boot(&kernel, &dir), "ramdisk", &dir);
    assert!(matches!(e, DiskError::NotAnImage { .. }), "{e:?}");
    let linked = f.root.join("images/initrd.2");
    std::fs::write(&linked, b"ramdisk").expect("ramdisk");
    std::fs::hard_link(&linked, f.root.join("images/other")).expect("link");
    let e = boot_refused(&f, &direct_boot(&kernel, &linked), "ramdisk", &linked);
    assert!(matches!(e, DiskError::HardLinked { links: 2, .. }), "{e:?}");
}

#[test]
fn qemu_reads_the_boot_files_by_its_own_fds_and_gets_a_vga_card_only_with_vnc() {
    let f = Fake::new("boot-args");
    let c = direct_boot(
        &f.root.join("images/vmlinuz"),
        &f.root.join("images/initrd"),
    );
    let a = crate::dm::qemu_args(&c, false);
    let after = |flag: &str| {
        a.iter()
            .position(|x| x == flag)
            .and_then(|i| a.get(i + 1))
            .cloned()
    };
    assert_eq!(
        after("-kernel").as_deref(),
        Some("/proc/self/fd/69"),
        "{a:?}"
    );
    assert_eq!(
        after("-initrd").as_deref(),
        Some("/proc/self/fd/70"),
        "{a:?}"
    );
    assert_eq!(after("-append").as_deref(), Some("console=ttyS0"), "{a:?}");
    assert!(
        !a.iter().any(|x| x == "VGA"),
        "no screen without vnc: {a:?}"
    );
    let mut vnc = c.clone();
    vnc.vnc = true;
    let a = crate::dm::qemu_args(&vnc, false);
    assert_eq!(
        a.iter()
            .position(|x| x == "VGA")
            .and_then(|i| a.get(i - 1))
            .map(String::as_str),
        Some("-device"),
        "{a:?}"
    );
    let plain = crate::dm::qemu_args(&f.config(&f.image()), false);
    assert!(
        !plain
            .iter()
            .any(|x| x == "-kernel" || x == "-initrd" || x == "-append"),
        "{plain:?}"
    );
}

#[test]
fn a_kernel_the_device_model_may_not_read_is_given_as_a_nameless_read_only_copy() {
    use std::io::{Read, Write};
    use std::os::unix::fs::MetadataExt;
    let f = Fake::new("kernel-unreadable");
    let kernel = f.root.join("images/vmlinuz");
    std::fs::write(&kernel, b"kernel bytes").expect("kernel");
    std::fs::set_permissions(&kernel, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let before = std::fs::metadata(&kernel).expect("stat");
    // The copy is made in xend's managed-domains directory (on disk, not
    // the run directory's tmpfs): without one, a clear error.
    let e = refused(&f.settings(), &f.host(), &direct_boot(&kernel, &f.image()));
    assert!(matches!(e, PrepareError::BootCopy { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains(&format!("kernel {}: copying", kernel.display())),
        "{e}"
    );
    std::fs::create_dir(f.root.join("managed")).expect("managed");
    let c = direct_boot(&kernel, &f.image());
    let p = f.prepared(&c);
    let copy = p
        .disks
        .iter()
        .find_map(|d| match d {
            OpenImage::Boot(ImageKind::Kernel, fd) => Some(fd),
            _ => None,
        })
        .expect("the kernel");
    let mut file = std::fs::File::from(copy.try_clone().expect("dup"));
    let m = file.metadata().expect("stat");
    assert_eq!(m.mode() & 0o7777, 0o444, "a read-only copy");
    assert_eq!(m.nlink(), 0, "with no name");
    assert_ne!(m.ino(), before.ino(), "a copy, not the file");
    let mut text = String::new();
    file.read_to_string(&mut text).expect("read");
    assert_eq!(text, "kernel bytes");
    assert!(file.write_all(b"x").is_err(), "the fd is read-only");
    let after = std::fs::metadata(&kernel).expect("stat");
    assert_eq!(
        (after.uid(), after.mode(), after.mtime(), after.mtime_nsec()),
        (
            before.uid(),
            before.mode(),
            before.mtime(),
            before.mtime_nsec()
        ),
        "the kernel itself is unchanged"
    );
    // Nothing with a name was left there.
    assert_eq!(
        std::fs::read_dir(f.root.join("managed"))
            .expect("managed")
            .count(),
        0
    );
}
