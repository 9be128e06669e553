//! Panic containment: nothing unwinds across the ABI.
//!
//! Internal: abi_stable aborts the process when a panic reaches one of its `extern "C"`
//! shims, so every call the host makes into a plugin (init and each handler) runs
//! inside [`guard`], which turns a panic into the error value of DESIGN §2.5.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use abi_stable::std_types::{RResult, RString};

thread_local! {
    /// Where the last panic on this thread happened, recorded by the quiet hook.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// In a loaded plugin library: replaces the default panic hook of the library's own
/// copy of std (not the host's) with one that records the location for the error
/// message instead of printing to stderr, since the host logs the failure with the
/// plugin's name and point. Not installed in the testing harness, where the default
/// output helps.
pub(crate) fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            LOCATION.with(|cell| *cell.borrow_mut() = location);
        }))
    });
}

/// Runs `f`, turning a panic into `RErr("panicked at <file:line:col>: <message>")`
/// (the location only where the quiet hook recorded one).
pub(crate) fn guard<T>(f: impl FnOnce() -> T) -> RResult<T, RString> {
    // AssertUnwindSafe: after a panic the host never calls this handler's state again
    // for this request, and the plugin's own shared state is its author's to keep
    // consistent (as with any panic in a multi-threaded program).
    match catch_unwind(AssertUnwindSafe(f)) {
        // A handler that failed on purpose (`Request::fail`), or whose wait the host
        // refused, fails whatever it returned.
        Ok(value) => match crate::callout::take_refusal() {
            Some(why) => RResult::RErr(why.into()),
            None => RResult::ROk(value),
        },
        Err(payload) => {
            let message = message(payload.as_ref());
            let text = match LOCATION.with(|cell| cell.borrow_mut().take()) {
                Some(location) => format!("panicked at {location}: {message}"),
                None => format!("panicked: {message}"),
            };
            RResult::RErr(text.into())
        }
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
