//! The heap figures of the tap board: a global allocator that counts what is in use (and the
//! peak), over the system allocator. The chip's heap is fixed (esp-alloc regions); here
//! "total" is the chip's budget, so the agent's memory rules see the same percentages a board
//! would. What the Linux board allocates before the agent starts (the 4 MiB flash image, the
//! TAP frame buffers: flash and driver memory on a chip, not heap) is left out: the figures
//! count from [`CountingAllocator::count_from_here`] on.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use picokubelet_firmware_body::board_state::{HeapFigures, HeapGauge};

/// The C6/C3 image's heap: 64 KiB of reclaimed bootloader RAM + 36 KiB (`firmware/src/main.rs`).
pub const BOARD_HEAP_BYTES: usize = 100 * 1024;

/// The system allocator, counted.
pub struct CountingAllocator {
    in_use: AtomicUsize,
    peak: AtomicUsize,
    /// `in_use` when counting started: what the figures leave out.
    baseline: AtomicUsize,
}

impl CountingAllocator {
    pub const fn new() -> Self {
        CountingAllocator {
            in_use: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            baseline: AtomicUsize::new(0),
        }
    }

    /// From now on the figures count only what is allocated after this call (the board's own
    /// set-up before the agent is not the chip's heap).
    pub fn count_from_here(&self) {
        let now = self.in_use.load(Ordering::Relaxed);
        self.baseline.store(now, Ordering::Relaxed);
        self.peak.store(now, Ordering::Relaxed);
    }

    /// Bytes allocated now (since [`CountingAllocator::count_from_here`]).
    pub fn in_use(&self) -> usize {
        let baseline = self.baseline.load(Ordering::Relaxed);
        self.in_use.load(Ordering::Relaxed).saturating_sub(baseline)
    }

    /// The most bytes allocated at once so far (since [`CountingAllocator::count_from_here`]).
    pub fn peak(&self) -> usize {
        let baseline = self.baseline.load(Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed).saturating_sub(baseline)
    }

    fn added(&self, bytes: usize) {
        let now = self.in_use.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    fn removed(&self, bytes: usize) {
        self.in_use.fetch_sub(bytes, Ordering::Relaxed);
    }
}

impl Default for CountingAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded to `System` unchanged; the counters only observe.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on to `System`.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            self.added(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        self.removed(layout.size());
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            self.added(layout.size());
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            self.removed(layout.size());
            self.added(new_size);
        }
        new
    }
}

/// [`CountingAllocator`] as the body's [`HeapGauge`]: free = the board's budget minus what is
/// in use (never below zero).
#[derive(Clone, Copy)]
pub struct CountedHeap(pub &'static CountingAllocator);

impl HeapGauge for CountedHeap {
    fn figures(&self) -> HeapFigures {
        HeapFigures {
            free: BOARD_HEAP_BYTES.saturating_sub(self.0.in_use()),
            total: BOARD_HEAP_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figures_count_from_the_baseline() {
        let counter = CountingAllocator::new();
        counter.added(4 << 20);
        counter.count_from_here();
        assert_eq!((counter.in_use(), counter.peak()), (0, 0));
        counter.added(3000);
        counter.removed(1000);
        assert_eq!((counter.in_use(), counter.peak()), (2000, 3000));
        // What was there before the baseline goes away: never below zero.
        counter.removed(4 << 20);
        assert_eq!(counter.in_use(), 0);
        let heap = CountedHeap(Box::leak(Box::new(CountingAllocator::new())));
        assert_eq!(heap.figures().free, BOARD_HEAP_BYTES);
    }
}
