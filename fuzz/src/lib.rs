//! What the fuzz targets of xvm-lp share: where an error may point, and a
//! global allocator that counts, so a target can bound what a call holds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Whether 1-based `line` and `column` (counted in characters) name a
/// place in `text`: a character of it, or just past the end of a line.
pub fn inside(text: &str, line: usize, column: usize) -> bool {
    if line == 0 || column == 0 {
        return false;
    }
    text.split('\n')
        .nth(line - 1)
        .is_some_and(|l| column <= l.chars().count() + 1)
}

/// The system allocator, counting the bytes live and the most live since
/// [`Counting::reset_peak`].
pub struct Counting {
    live: AtomicUsize,
    peak: AtomicUsize,
}

impl Counting {
    /// Nothing counted yet.
    pub const fn new() -> Counting {
        Counting {
            live: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Bytes live now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Starts a measurement: the peak is what is live now.
    pub fn reset_peak(&self) {
        self.peak.store(self.live(), Ordering::Relaxed);
    }

    /// The most bytes live since [`Counting::reset_peak`].
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn grow(&self, n: usize) {
        let now = self.live.fetch_add(n, Ordering::Relaxed) + n;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn shrink(&self, n: usize) {
        self.live.fetch_sub(n, Ordering::Relaxed);
    }
}

impl Default for Counting {
    fn default() -> Counting {
        Counting::new()
    }
}

// SAFETY: every call is passed on to `System` with the caller's layout
// unchanged; the counters are only bookkeeping beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            self.grow(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            self.grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout (every
        // allocation here does).
        unsafe { System.dealloc(ptr, layout) };
        self.shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Old and new may both be live while the bytes are copied.
            self.grow(new_size);
            self.shrink(layout.size());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::inside;

    #[test]
    fn places() {
        assert!(inside("", 1, 1));
        assert!(!inside("", 2, 1));
        assert!(inside("ab\ncé", 2, 3));
        assert!(!inside("ab\ncé", 2, 4));
        assert!(inside("ab\n", 2, 1));
        assert!(!inside("ab", 1, 0));
    }
}
