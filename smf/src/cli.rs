//! What each of the tools' `main` does with its outcome: the exit status,
//! and on failure one line on stderr.

use std::fmt::Display;
use std::process::ExitCode;

/// Exit 0 for `Ok(true)`; 1 for `Ok(false)` (the tool said why already)
/// and for an error, printed as one line, after `tool: ` when given (a
/// tool whose errors start with a file name, `FILE:LINE:COLUMN: why`,
/// passes `None`).
pub fn exit(tool: Option<&str>, outcome: Result<bool, impl Display>) -> ExitCode {
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            match tool {
                Some(t) => eprintln!("{t}: {e}"),
                None => eprintln!("{e}"),
            }
            ExitCode::from(1)
        }
    }
}
