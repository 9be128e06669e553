//! The fake host's client certificates: a session's is lent while a handler runs on
//! it, and the host module's lookup finds it by the session's id.

use std::cell::RefCell;

use crate::abi::{PeerCertificateAbi, ROption};
use crate::PeerCertificate;

thread_local! {
    /// The certificates lent on this thread, by session id (handlers run on the
    /// caller's thread, so each test sees only its own).
    static LENT: RefCell<Vec<(u64, PeerCertificateAbi)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `certificate` (if any) findable as session `id`'s.
pub(crate) fn lend<T>(id: u64, certificate: Option<&PeerCertificate>, f: impl FnOnce() -> T) -> T {
    let Some(certificate) = certificate else {
        return f();
    };
    LENT.with(|lent| lent.borrow_mut().push((id, certificate.into())));
    // Taken back even if `f` unwinds (a test asserting inside a handler).
    struct Return;
    impl Drop for Return {
        fn drop(&mut self) {
            LENT.with(|lent| lent.borrow_mut().pop());
        }
    }
    let _return = Return;
    f()
}

pub(crate) extern "C" fn lookup(session: u64) -> ROption<PeerCertificateAbi> {
    LENT.with(|lent| {
        let lent = lent.borrow();
        let found = lent.iter().rev().find(|(id, _)| *id == session);
        found.map(|(_, certificate)| certificate.clone()).into()
    })
}
