//! Giving memory back to the system after connections close.
//!
//! glibc's allocator keeps what is freed in its arenas (one per thread that
//! allocates): after a burst of 5,000 connections closes, RSS stays where the burst
//! took it (measured: +146 MB, `bench/idle.sh`). `malloc_trim(0)` hands the free
//! pages of every arena back. It walks the arenas under their locks, so it runs on
//! the blocking pool, and only after many connections have closed: [`Trimmer`] asks
//! for it when the connections open fell by at least [`MIN_CLOSED`], to at most half of
//! their peak since the last trim. Other allocators and platforms: nothing to do.

/// The fewest connections closed since the peak that make a trim worth its walk.
pub const MIN_CLOSED: u64 = 256;

/// When to trim, from the number of connections open, seen every second.
#[derive(Debug, Default)]
pub struct Trimmer {
    peak: u64,
}

impl Trimmer {
    /// Notes the connections `open` now; `true` when memory should be trimmed.
    pub fn tick(&mut self, open: u64) -> bool {
        self.peak = self.peak.max(open);
        let closed = self.peak - open;
        if closed >= MIN_CLOSED && open <= self.peak / 2 {
            self.peak = open;
            return true;
        }
        false
    }
}

/// Gives the allocator's free pages back to the system (glibc), or nothing.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer and is safe to call from any thread at any
    // time; it only releases memory the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_trims_once_after_many_connections_closed() {
        let mut trimmer = Trimmer::default();
        // A burst of 5,000 and its end.
        assert!(!trimmer.tick(10));
        assert!(!trimmer.tick(5_000));
        assert!(!trimmer.tick(4_000), "most still open");
        assert!(trimmer.tick(100));
        assert!(!trimmer.tick(100), "once");
        assert!(!trimmer.tick(0), "100 closed since: too few");
        // Small swings never trim.
        let mut steady = Trimmer::default();
        for open in [200, 10, 255, 0, 250, 1] {
            assert!(!steady.tick(open));
        }
    }

    #[test]
    fn trimming_runs() {
        let freed: Vec<Vec<u8>> = (0..64).map(|_| vec![1u8; 64 * 1024]).collect();
        drop(freed);
        trim();
    }
}
