//! A process's resident memory, from `/proc/<pid>/status` (Linux only; elsewhere the
//! readings are `None` and a watch sees 0).

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Resident memory now (`VmRSS`), in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

/// The highest resident memory since the process started (`VmHWM`), in KiB. The
/// kernel updates this mark lazily (when memory is unmapped, not on every page freed
/// back to the allocator), so a peak may show in [`MemoryWatch`] samples and not here:
/// use both.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmHWM:")
}

/// A `kB` field of `/proc/<pid>/status`.
fn status_field(pid: u32, name: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(name))?;
    line[name.len()..]
        .split_whitespace()
        .next()
        .and_then(|kib| kib.parse().ok())
}

/// Samples a process's `VmRSS` on a thread until stopped, keeping the highest value
/// (for a window of time, where `VmHWM` covers the whole life of the process).
#[derive(Debug)]
pub struct MemoryWatch {
    stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<u64>>,
}

impl MemoryWatch {
    /// Starts sampling `pid` every `every`.
    pub fn start(pid: u32, every: Duration) -> MemoryWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let sampler = thread::spawn(move || {
            let mut highest = 0;
            while !flag.load(Ordering::Relaxed) {
                highest = highest.max(rss_kib(pid).unwrap_or(0));
                thread::sleep(every);
            }
            highest.max(rss_kib(pid).unwrap_or(0))
        });
        MemoryWatch {
            stop,
            sampler: Some(sampler),
        }
    }

    /// Stops sampling; the highest `VmRSS` seen, in KiB (0 if none could be read).
    pub fn stop(mut self) -> u64 {
        self.finish()
    }

    fn finish(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler
            .take()
            .map_or(0, |sampler| sampler.join().unwrap_or(0))
    }
}

impl Drop for MemoryWatch {
    fn drop(&mut self) {
        self.finish();
    }
}
