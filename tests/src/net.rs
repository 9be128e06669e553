//! Ports and sockets: a free port, and waiting for a listener to accept.

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 that was free a moment ago (bound, then released), and not
/// handed out before by this process: the kernel may give a released port again at
/// once, and two of one test's listeners (say `listen` and `admin`) must not get the
/// same one. Another process may still take it in between; tests tolerate that rare
/// race.
pub fn free_port() -> u16 {
    /// The ports handed out so far, most recent last (a bounded memory).
    static GIVEN: Mutex<VecDeque<u16>> = Mutex::new(VecDeque::new());
    const REMEMBERED: usize = 4096;
    let mut given = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        if given.contains(&port) {
            continue;
        }
        if given.len() == REMEMBERED {
            given.pop_front();
        }
        given.push_back(port);
        return port;
    }
}

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Whether something accepts TCP connections at `addr` right now.
pub fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Waits until `addr` accepts TCP connections, at most `timeout`; false if it never did.
pub fn wait_until_accepting(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if accepts(addr) {
            return true;
        }
        thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A runtime of its own (2 workers, threads named `name`) and a listener on
/// `127.0.0.1:<free port>` registered with it, for a test server that sync tests
/// start and stop.
pub fn server_runtime(
    name: &str,
) -> (tokio::runtime::Runtime, tokio::net::TcpListener, SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("server runtime");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test server");
    let addr = listener.local_addr().expect("test server addr");
    listener.set_nonblocking(true).expect("nonblocking");
    let listener = {
        let _guard = runtime.enter();
        tokio::net::TcpListener::from_std(listener).expect("tokio listener")
    };
    (runtime, listener, addr)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    /// The kernel may give a released port again at once; `free_port` never does
    /// within a process (once a test got `listen` and `admin` on the same port).
    #[test]
    fn free_ports_are_never_handed_out_twice() {
        let ports: Vec<u16> = (0..500).map(|_| super::free_port()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
    }
}
