use super::*;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xcd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch");
    d
}

fn sizes(dir: &Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().expect("meta").len(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn rotation_keeps_max_size_times_backups_plus_one() {
    let d = scratch("rotate");
    let limits = LogLimits {
        max_size: 4096,
        backups: 2,
        timestamp: false,
    };
    let mut l = LogFile::open(&d.join("guest-a.log"), limits).expect("open");
    let chunk = vec![b'x'; 1000];
    for _ in 0..20 {
        l.write(&chunk).expect("write");
    }
    let s = sizes(&d);
    let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["guest-a.log", "guest-a.log.1", "guest-a.log.2"]);
    assert!(s.iter().all(|(_, n)| *n <= 4096), "{s:?}");
    // 20000 bytes: two full backups of 4096 and the rest in the file.
    assert_eq!(s[1].1, 4096);
    assert_eq!(s[2].1, 4096);
    assert_eq!(s[0].1, 20_000 % 4096);
    let mode = std::fs::metadata(d.join("guest-a.log"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn the_newest_backup_is_one_and_the_oldest_is_dropped() {
    let d = scratch("order");
    let limits = LogLimits {
        max_size: 4096,
        backups: 2,
        timestamp: false,
    };
    let mut l = LogFile::open(&d.join("g.log"), limits).expect("open");
    for c in [b'a', b'b', b'c', b'd'] {
        l.write(&[c; 4096]).expect("write");
    }
    let first = |p: &str| std::fs::read(d.join(p)).expect("read")[0];
    // a was dropped at the third rotation; d is in the file itself.
    assert_eq!(first("g.log"), b'd');
    assert_eq!(first("g.log.1"), b'c');
    assert_eq!(first("g.log.2"), b'b');
    assert!(!d.join("g.log.3").exists());
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn without_backups_the_file_starts_again() {
    let d = scratch("nobackup");
    let limits = LogLimits {
        max_size: 4096,
        backups: 0,
        timestamp: false,
    };
    let mut l = LogFile::open(&d.join("g.log"), limits).expect("open");
    l.write(&[b'a'; 5000]).expect("write");
    assert_eq!(sizes(&d), [("g.log".to_string(), 5000 - 4096)]);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn timestamps_start_each_line_and_survive_a_split_write() {
    let d = scratch("stamp");
    let limits = LogLimits {
        max_size: 1 << 20,
        backups: 1,
        timestamp: true,
    };
    let mut l = LogFile::open(&d.join("g.log"), limits).expect("open");
    l.write(b"one\ntw").expect("write");
    l.write(b"o\nthree").expect("write");
    let text = std::fs::read_to_string(d.join("g.log")).expect("read");
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    for (l, want) in lines.iter().zip(["one", "two", "three"]) {
        assert!(
            l.starts_with("[20") && l.ends_with(&format!("] {want}")),
            "{l:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn reopen_after_a_move_makes_a_new_file() {
    let d = scratch("reopen");
    let limits = LogLimits {
        max_size: 1 << 20,
        backups: 1,
        timestamp: false,
    };
    let mut l = LogFile::open(&d.join("g.log"), limits).expect("open");
    l.write(b"before").expect("write");
    std::fs::rename(d.join("g.log"), d.join("moved")).expect("mv");
    l.write(b" still old").expect("write");
    l.reopen().expect("reopen");
    l.write(b"after").expect("write");
    assert_eq!(
        std::fs::read(d.join("moved")).expect("r"),
        b"before still old"
    );
    assert_eq!(std::fs::read(d.join("g.log")).expect("r"), b"after");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn stamps_are_utc_calendar_dates() {
    let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400 + 3661);
    assert_eq!(stamp(t), "[2000-02-29 01:01:01] ");
    assert_eq!(stamp(SystemTime::UNIX_EPOCH), "[1970-01-01 00:00:00] ");
}

#[test]
fn a_guest_name_never_chooses_a_path() {
    assert_eq!(guest_log_name("web-1.x_y", 3), "guest-web-1.x_y.log");
    for bad in [
        "",
        "../../etc/passwd",
        ".hidden",
        "a/b",
        "a b",
        &"n".repeat(65),
    ] {
        assert_eq!(guest_log_name(bad, 7), "guest-7.log", "{bad:?}");
    }
}
