//! [`Writer`]: the thread that owns the log file. Handlers append their line to a
//! shared buffer under a short lock and return; they never wait on the disk, and they
//! do not wake the thread per line (a cross-thread wake-up per request cost more CPU
//! than everything else the plugin does). The thread swaps the buffer out and writes
//! it every flush interval, or sooner once 64 KiB have piled up; `Drop` asks it to
//! write what is left and waits for it: the proxy drops the handlers after draining at
//! shutdown, so every line is on disk when it exits.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Buffered bytes that make handlers wake the thread before the interval is over.
const WAKE_AT: usize = 64 * 1024;

/// Appends lines for the writer thread.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    /// Whole lines not yet written: a write never cuts a line.
    buffer: Vec<u8>,
    /// Set by `Drop`: write what is left and stop.
    stop: bool,
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave a half-appended line that matters
    // more than the rest of the log: keep going.
    shared.state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Writer {
    /// Starts the thread writing to `file`, every `flush_every` at the latest.
    pub(crate) fn start(file: File, path: PathBuf, flush_every: Duration) -> io::Result<Writer> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                buffer: Vec::with_capacity(WAKE_AT),
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let for_thread = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("access-log".to_owned())
            .spawn(move || write_lines(&for_thread, file, &path, flush_every))?;
        Ok(Writer {
            shared,
            thread: Some(thread),
        })
    }

    /// Queues one line (with its newline).
    pub(crate) fn send(&self, line: &[u8]) {
        let mut state = lock(&self.shared);
        let was_below = state.buffer.len() < WAKE_AT;
        state.buffer.extend_from_slice(line);
        if was_below && state.buffer.len() >= WAKE_AT {
            self.shared.wake.notify_one();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        lock(&self.shared).stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_lines(shared: &Shared, mut file: File, path: &Path, every: Duration) {
    let mut failing = false;
    // A full disk would fail every write: say so once per streak, not once per chunk.
    let mut check = |result: io::Result<()>| match result {
        Ok(()) => failing = false,
        Err(e) if !failing => {
            failing = true;
            eprintln!("access-log: writing {}: {e}", path.display());
        }
        Err(_) => {}
    };
    let mut chunk = Vec::with_capacity(WAKE_AT);
    loop {
        let stop = {
            let mut state = lock(shared);
            if !state.stop && state.buffer.len() < WAKE_AT {
                state = shared
                    .wake
                    .wait_timeout(state, every)
                    .map_or_else(|e| e.into_inner().0, |(state, _)| state);
            }
            std::mem::swap(&mut state.buffer, &mut chunk);
            state.stop
        };
        if !chunk.is_empty() {
            check(file.write_all(&chunk));
            chunk.clear();
        }
        if stop {
            break;
        }
    }
    check(file.flush());
}
