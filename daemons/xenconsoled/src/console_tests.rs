use super::*;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xcd-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch");
    d
}

#[test]
fn the_log_gets_everything_and_the_pty_at_most_the_limit() {
    let d = scratch("console");
    let me = privlib::procfs::read_cred(Path::new("/proc"), "self").expect("cred");
    let s = ConsoleSettings {
        xend_run: d.join("xend"),
        guest_log_dir: Some(d.clone()),
        log_limits: LogLimits {
            max_size: 4 << 20,
            backups: 1,
            timestamp: false,
        },
        rate_limit: 0,
        owner: (me.uid[1], me.gid[1]),
    };
    let mut c = Console::attach(3, "g", 4096, None, &s).expect("attach");
    assert_eq!(c.socket(), d.join("xend/domains/3/serial"));
    // Nobody reads the pty: past the kernel's own buffer and our 4 KiB,
    // the guest's bytes are discarded; the log still has them all.
    let chunk = [b'z'; 64 * 1024];
    for _ in 0..16 {
        c.from_guest(&chunk);
    }
    assert!(c.to_pty.len() <= 4096);
    assert!(c.discarded() > 512 * 1024, "{}", c.discarded());
    let log = std::fs::metadata(d.join("guest-g.log")).expect("log");
    assert_eq!(log.len(), 16 * 64 * 1024);
    let _ = std::fs::remove_dir_all(&d);
}
