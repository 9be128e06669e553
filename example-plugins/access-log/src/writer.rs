//! [`Writer`]: the thread that owns the log file. Handlers only format a line and send
//! it over a channel, so they never wait on the disk; the thread writes through a
//! buffer, flushes it every interval and when the channel closes, and `Drop` closes
//! the channel and waits for that last flush: the proxy drops the handlers after
//! draining at shutdown, so every line sent is on disk when it exits.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Sends lines to the writer thread.
pub(crate) struct Writer {
    /// Unbounded, so that a handler never blocks (a slow disk costs memory, not
    /// latency); `None` once `Drop` has closed it.
    lines: Option<Sender<String>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the thread writing to `file`, flushing every `flush_every`.
    pub(crate) fn start(file: File, path: PathBuf, flush_every: Duration) -> io::Result<Writer> {
        let (lines, received) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("access-log".to_owned())
            .spawn(move || write_lines(&received, BufWriter::new(file), &path, flush_every))?;
        Ok(Writer {
            lines: Some(lines),
            thread: Some(thread),
        })
    }

    /// Queues one line (with its newline).
    pub(crate) fn send(&self, line: String) {
        if let Some(lines) = &self.lines {
            // Fails only once the thread has returned, and it returns only after Drop.
            let _ = lines.send(line);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.lines.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn write_lines(lines: &Receiver<String>, mut out: BufWriter<File>, path: &Path, every: Duration) {
    let mut failing = false;
    // A full disk would fail every write: say so once per streak, not once per line.
    let mut check = |result: io::Result<()>| match result {
        Ok(()) => failing = false,
        Err(e) if !failing => {
            failing = true;
            eprintln!("access-log: writing {}: {e}", path.display());
        }
        Err(_) => {}
    };
    let mut next_flush = Instant::now() + every;
    loop {
        match lines.recv_timeout(next_flush.saturating_duration_since(Instant::now())) {
            // BufWriter flushes before a line that does not fit, so a flush falls
            // between lines: an instance reloaded onto the same file cannot cut one.
            Ok(line) => check(out.write_all(line.as_bytes())),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next_flush {
            check(out.flush());
            next_flush = Instant::now() + every;
        }
    }
    check(out.flush());
}
