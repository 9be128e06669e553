//! Ports and sockets: a free port, and waiting for a listener to accept.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// A port on 127.0.0.1 that was free a moment ago (bound, then released). Another
/// process may take it in between; tests tolerate that rare race.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
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
