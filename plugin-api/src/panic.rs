//! Panic containment: nothing unwinds across the ABI.
//!
//! Internal: abi_stable aborts the process when a panic reaches one of its `extern "C"`
//! shims, so every call the host makes into a plugin (init and each handler) runs
//! inside [`guard`], which turns a panic into the error value of DESIGN §2.5.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::std_types::{RResult, RString};

/// Runs `f`, turning a panic into `RErr("panicked: <message>")`.
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> RResult<T, RString> {
    // AssertUnwindSafe: after a panic the host never calls this handler's state again
    // for this request, and the plugin's own shared state is its author's to keep
    // consistent (as with any panic in a multi-threaded program).
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => RResult::ROk(value),
        Err(payload) => RResult::RErr(format!("panicked: {}", message(payload.as_ref())).into()),
    }
}

fn message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(a panic payload that is not a string)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_becomes_error_with_message() {
        let r: RResult<(), RString> = guard(|| panic!("boom {}", 7));
        assert_eq!(r, RResult::RErr(RString::from("panicked: boom 7")));
        assert_eq!(guard(|| 5), RResult::ROk(5));
    }
}
