//! The line protocol on the server's side: one request read, bounded in
//! size and in time; one answer written; the refusal the gate sends.

use std::io::Write;
use std::os::unix::net::UnixStream;

use privlib::Refusal;
use privlib::bounded::{LineError, LineReader};

use super::error::{Answer, ControlError};
use super::limits::{MAX_LINE, READ_TIMEOUT};
use super::verb::Request;

/// The refusal of the line protocol: waits for the newline, answers `ERR why`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LineRefusal;

impl Refusal for LineRefusal {
    fn complete(&self, first: &[u8]) -> bool {
        first.contains(&b'\n')
    }

    fn reply(&self, _first: &[u8], why: &str) -> Vec<u8> {
        format!("ERR {}\n", why.replace('\n', " ")).into_bytes()
    }
}

/// Reads one request line with privlib's [`LineReader`]: at most
/// [`MAX_LINE`] bytes, all of it within [`READ_TIMEOUT`] (one deadline, not
/// one per read: a peer trickling a byte at a time gets no longer than a
/// fast one); anything after the newline is a second request, refused.
pub fn read_request(stream: &UnixStream) -> Result<Request, ControlError> {
    let mut reader = LineReader::new(stream, MAX_LINE);
    reader.within(READ_TIMEOUT);
    let line = match reader.read_line() {
        Ok(Some(line)) => line,
        Ok(None) | Err(LineError::Unterminated) => return Err(ControlError::Unterminated),
        Err(LineError::TooLong { .. }) => return Err(ControlError::TooLong),
        Err(LineError::Timeout { .. }) => return Err(ControlError::Timeout),
        Err(LineError::Io(e)) => return Err(ControlError::Read(e)),
    };
    if reader.has_buffered() {
        return Err(ControlError::MoreThanOne);
    }
    let text = String::from_utf8(line).map_err(ControlError::NotUtf8)?;
    Request::parse(&text)
}

/// Writes the answer.
pub fn answer(mut stream: &UnixStream, result: Answer) {
    let mut text = String::new();
    match result {
        Ok(lines) => {
            for l in lines {
                text.push_str(&l.replace('\n', " "));
                text.push('\n');
            }
            text.push_str("OK\n");
        }
        Err(e) => text.push_str(&format!("ERR {}\n", e.to_string().replace('\n', " "))),
    }
    // The answer is a few KiB: the socket buffer takes it whole; a peer
    // that does not read at all is dropped after the timeout.
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let _ = stream.write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::control::verb::Verb;

    #[test]
    fn the_refusal_waits_for_a_line_and_names_what_is_missing() {
        let r = LineRefusal;
        assert!(!r.complete(b"lis"));
        assert!(r.complete(b"list\n"));
        assert_eq!(
            r.reply(
                b"",
                "permission denied: xvm_control or virt_manage required"
            ),
            b"ERR permission denied: xvm_control or virt_manage required\n"
        );
        assert_eq!(r.reply(b"x", "a\nb"), b"ERR a b\n");
    }

    #[test]
    fn a_request_is_bounded_in_size_and_in_total_time() {
        let (a, mut b) = UnixStream::pair().expect("pair");
        b.write_all(b"list\tone\n").expect("write");
        assert_eq!(
            read_request(&a).expect("request"),
            Request {
                verb: Verb::List,
                args: vec!["one".to_string()]
            }
        );

        // A peer that trickles and never ends its line is cut off at the
        // deadline, not one read timeout per byte.
        let (a, b) = UnixStream::pair().expect("pair");
        let trickle = std::thread::spawn(move || {
            let mut b = b;
            for _ in 0..8 {
                if b.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(700));
            }
        });
        let t = Instant::now();
        let err = read_request(&a).expect_err("cut off");
        assert!(matches!(err, ControlError::Timeout), "{err}");
        assert!(t.elapsed() < READ_TIMEOUT + Duration::from_millis(500));
        assert!(
            err.to_string().contains("not complete within 2 seconds"),
            "{err}"
        );
        drop(a);
        trickle.join().expect("writer");

        let (a, mut b) = UnixStream::pair().expect("pair");
        let big = vec![b'x'; MAX_LINE + 10];
        let w = std::thread::spawn(move || {
            let _ = b.write_all(&big);
        });
        let err = read_request(&a).expect_err("too long");
        assert!(matches!(err, ControlError::TooLong), "{err}");
        drop(a);
        w.join().expect("writer");

        let (a, mut b) = UnixStream::pair().expect("pair");
        b.write_all(b"list\nlist\n").expect("write");
        assert!(matches!(read_request(&a), Err(ControlError::MoreThanOne)));
    }
}
