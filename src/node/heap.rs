//! Handing freed heap memory back to the kernel.
//!
//! A node's heap swells in bursts (a round of writes with clock reports to
//! an observer, a new neighbour's full anti-entropy exchange, a partition
//! healing) and then shrinks again, but glibc's allocator keeps freed pages
//! that are not at the very top of the heap: without help the process stays
//! at its high-water mark for good. On a Pi, where the node should stay
//! within a few MiB, [`release_free_heap`] asks glibc (`malloc_trim`) to
//! return every whole free page inside the heap; it costs a walk over the
//! free lists, so the node calls it on its idle-link sweep, every 30 s.

/// Returns free heap pages to the kernel; a no-op off glibc.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `malloc_trim` only walks and releases the allocator's own
        // free memory; it takes no pointers and has no preconditions.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
