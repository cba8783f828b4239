//! A domain's disks on qemu's command line: a `-blockdev` graph whose
//! every node is a passed fd, then one IDE device per disk.
//!
//! Each file of a disk's chain ([`crate::disk::OpenDisk`]) is one fdset
//! (`-add-fd`: its read-only fd, and its read-write one when written;
//! qemu takes the fd whose access mode matches its open) and one `file`
//! (or, for a block device, `host_device`) node on `/dev/fdset/N`; over
//! each file node a format node (`raw` or `qcow2`), a qcow2 node naming
//! the next file's format node as its `backing` (`null` at the bottom),
//! so qemu opens no name of its own: not the image's, not a backing
//! file's. The nodes are built once as JSON ([`OpenDisk::blockdev_nodes`]):
//! qemu's `-blockdev` reads the same JSON as QMP's `blockdev-add`, which
//! hot-plug uses.
//!
//! Node names: `<prefix>-<depth>` for the format node of the chain's
//! file at that depth (0 the top), `<prefix>-<depth>f` for its file
//! node; at start the prefix is `d<slot>`, the IDE slot.

use std::os::fd::{AsRawFd, RawFd};

use privlib::Spawn;
use serde_json::{Value, json};

use crate::config::ide_index;
use crate::disk::OpenDisk;
use crate::dm::prepare::{OpenImage, Prepared};
use crate::dm::{FD_BLOCK_END, FD_BLOCK0};

/// The fds the disks may have in qemu.
pub const MAX_BLOCK_FDS: usize = FD_BLOCK_END.abs_diff(FD_BLOCK0) as usize;

impl OpenDisk {
    /// The node a device uses: the top format node.
    pub fn top(prefix: &str) -> String {
        format!("{prefix}-0")
    }

    /// Its nodes, in the order they are added (the bottom of the chain
    /// first: a node's backing and file exist before it): for each file
    /// its file node on `/dev/fdset/<fdsets[i]>`, then its format node.
    /// `fdsets[i]` is the fdset of the chain's file `i`
    /// ([`crate::disk::ChainFile::fds`]); a file without one gets none
    /// (the caller gives one per file).
    pub fn blockdev_nodes(&self, prefix: &str, fdsets: &[u32]) -> Vec<Value> {
        let ro_disk = self.disk.read_only || self.disk.cdrom;
        let n = self.chain.len().min(fdsets.len());
        let mut nodes = Vec::with_capacity(2 * n);
        for i in (0..n).rev() {
            let f = &self.chain[i];
            // The top is written unless the disk is read-only; backing
            // files never are.
            let ro = i > 0 || ro_disk;
            let file = format!("{prefix}-{i}f");
            nodes.push(json!({
                "driver": if f.block { "host_device" } else { "file" },
                "node-name": file,
                "filename": format!("/dev/fdset/{}", fdsets[i]),
                "read-only": ro,
            }));
            let mut fmt = json!({
                "driver": f.format.name(),
                "node-name": format!("{prefix}-{i}"),
                "file": file,
                "read-only": ro,
            });
            if f.format == crate::config::Format::Qcow2 {
                fmt["backing"] = if i + 1 < n {
                    Value::String(format!("{prefix}-{}", i + 1))
                } else {
                    Value::Null
                };
            }
            nodes.push(fmt);
        }
        nodes
    }
}

/// One file's fdset id and its fds, (xend's fd, qemu's number).
type FileFds = (u32, Vec<(RawFd, i32)>);

/// The fds of the disks of `p` as qemu gets them: (xend's fd, qemu's
/// number), in order from [`FD_BLOCK0`]; with each file's fdset id.
fn layout(p: &Prepared) -> Vec<(&OpenDisk, Vec<FileFds>)> {
    let mut next = FD_BLOCK0;
    let mut set = 0u32;
    let mut out = Vec::new();
    for img in &p.disks {
        let OpenImage::Disk(d) = img else { continue };
        let mut files = Vec::new();
        for f in &d.chain {
            set += 1;
            let fds = f
                .fds()
                .into_iter()
                .map(|fd| {
                    let to = next;
                    next += 1;
                    (fd.as_raw_fd(), to)
                })
                .collect();
            files.push((set, fds));
        }
        out.push((d, files));
    }
    out
}

/// The fds the disks of `p` take in qemu ([`prepare`](crate::dm::prepare)
/// refuses more than [`MAX_BLOCK_FDS`]).
pub fn fd_count<'a>(disks: impl IntoIterator<Item = &'a OpenDisk>) -> usize {
    disks.into_iter().map(OpenDisk::fd_count).sum()
}

/// The IDE slot of the disk at config position `index` (`hda`..`hdd`,
/// `sdX` and `xvdX` in the same slots).
fn slot(d: &OpenDisk, index: usize) -> usize {
    ide_index(&d.disk.vdev).unwrap_or(index)
}

/// The disks' part of qemu's command line: the fdsets, the nodes, the
/// devices.
pub fn args(p: &Prepared) -> Vec<String> {
    let mut a = Vec::new();
    for (index, (d, files)) in layout(p).into_iter().enumerate() {
        let slot = slot(d, index);
        let prefix = format!("d{slot}");
        let mut sets = Vec::new();
        for (set, fds) in &files {
            for (_, to) in fds {
                a.push("-add-fd".into());
                a.push(format!("fd={to},set={set}"));
            }
            sets.push(*set);
        }
        for node in d.blockdev_nodes(&prefix, &sets) {
            a.push("-blockdev".into());
            a.push(node.to_string());
        }
        a.push("-device".into());
        a.push(format!(
            "{},drive={},bus=ide.{},unit={}",
            if d.disk.cdrom { "ide-cd" } else { "ide-hd" },
            OpenDisk::top(&prefix),
            slot / 2,
            slot % 2
        ));
    }
    a
}

/// Passes the disks' fds of `p` to qemu at the numbers [`args`] names.
pub fn pass(sp: Spawn, p: &Prepared) -> Spawn {
    let mut sp = sp;
    for (_, files) in layout(p) {
        for (_, fds) in files {
            for (from, to) in fds {
                sp = sp.pass_fd(from, to);
            }
        }
    }
    sp
}

/// The disks' fds of `p`, (xend's fd, qemu's number): for a qemu started
/// another way with the same [`args`] (the launch benchmark's baseline).
pub fn fds(p: &Prepared) -> Vec<(RawFd, i32)> {
    layout(p)
        .into_iter()
        .flat_map(|(_, files)| files.into_iter().flat_map(|(_, fds)| fds))
        .collect()
}
