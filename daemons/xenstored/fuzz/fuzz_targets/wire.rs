//! Frame decoding and command parsing, from raw bytes to replies.
//!
//! The input is a byte stream, as a peer would send it. The first byte
//! picks how the stream is cut into reads (1 to 256 bytes each). Frames
//! go, by request id, to one of four connections: xvm_control,
//! virt_manage, the device model of domain 1 (small quotas), and
//! xvm_control on `socket_ro`. What must hold:
//! - cutting the stream differently gives the same frames;
//! - no frame held in progress is larger than a header plus 4096 bytes;
//! - every request gets exactly one reply, first, to its sender, with its
//!   request and transaction ids, and no frame sent is over 4096 bytes;
//! - the journal of every change, replayed into a fresh daemon, gives
//!   back the same tree and the same domains.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xenstored::daemon::{Daemon, Limits, Role};
use xenstored::journal::Journal;
use xenstored::store::{Quota, Store};
use xenstored::wire::{FrameReader, HEADER_LEN, PAYLOAD_MAX};

fn limits() -> Limits {
    Limits {
        quota: Quota {
            entry_nb: 20,
            entry_size: 64,
            perm_nb: 3,
        },
        watch_nb: 4,
        transaction: 2,
        path_max: 64,
        ..Limits::default()
    }
}

fn frames(data: &[u8], chunk: usize) -> (Vec<xenstored::wire::Frame>, bool) {
    let mut r = FrameReader::default();
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        if r.push_into(piece, &mut out).is_err() {
            return (out, true);
        }
        assert!(r.pending() <= HEADER_LEN + PAYLOAD_MAX);
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let (whole, whole_cut_off) = frames(stream, stream.len().max(1));
    let (pieces, pieces_cut_off) = frames(stream, usize::from(cut) + 1);
    assert_eq!(whole, pieces, "the frames depend on how reads fall");
    assert_eq!(whole_cut_off, pieces_cut_off);

    // tmpfs where there is one: every record is a write(2).
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let journal_path = dir.join(format!("xs-fuzz-{}.journal", std::process::id()));
    let _ = std::fs::remove_file(&journal_path);
    let mut d = Daemon::new(Store::new(limits().quota), limits());
    let mut journal = Journal::open(&journal_path, &mut d).expect("journal");
    d.connect(0, Role::Control, false);
    d.connect(1, Role::Manage, false);
    d.connect(2, Role::Domain(1), false);
    d.connect(3, Role::Control, true);
    for f in &whole {
        let conn = u64::from(f.req_id % 4);
        let out = d.handle(conn, f);
        let reply = &out[0];
        assert_eq!(reply.conn, conn);
        assert_eq!((reply.frame.req_id, reply.frame.tx_id), (f.req_id, f.tx_id));
        assert!(out.iter().all(|o| o.frame.payload.len() <= PAYLOAD_MAX));
        let changes = std::mem::take(&mut d.pending);
        journal.record(&changes).expect("journal record");
    }
    drop(journal);
    let mut again = Daemon::new(Store::new(limits().quota), limits());
    Journal::open(&journal_path, &mut again).expect("journal replays");
    assert_eq!(
        d.store.walk(),
        again.store.walk(),
        "replay gave another tree"
    );
    assert_eq!(d.domains, again.domains, "replay gave other domains");
    let _ = std::fs::remove_file(&journal_path);
});
