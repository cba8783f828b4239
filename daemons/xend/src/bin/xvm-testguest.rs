//! `xvm-testguest FILE`: writes the test guest's disk image (a boot sector
//! that prints a banner on COM1 and echoes what it reads) to FILE, which
//! must not exist yet.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, path] = &args[..] else {
        eprintln!("usage: xvm-testguest FILE");
        return ExitCode::from(2);
    };
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(&xend::testguest::image()));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xvm-testguest: {path}: {e}");
            ExitCode::from(1)
        }
    }
}
