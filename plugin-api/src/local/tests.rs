//! Typed state on the fake host, which keeps it as the proxy does (`abi::Locals`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::testing::{FakeRequest, FakeSession, TestPlugin};
use crate::{Action, Outcome, Registry};

/// Counts the points a request went through, in this instance's state.
fn counting(_: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    reg.on_before_location(|req| {
        *req.local::<u32>() += 1;
        Outcome::GoOn
    });
    reg.on_found_product(|req| {
        *req.local::<u32>() += 1;
        let seen = *req.local::<u32>();
        req.set_context("seen", &seen.to_string());
        Outcome::GoOn
    });
    Ok(())
}

#[test]
fn state_lives_as_long_as_the_request_and_is_per_instance() {
    let first = TestPlugin::init(counting, "").unwrap();
    let second = TestPlugin::init(counting, "").unwrap();
    let mut req = FakeRequest::get("/");
    first.before_location(&mut req).unwrap();
    second.before_location(&mut req).unwrap();
    first.before_location(&mut req).unwrap();
    first.found_product(&mut req).unwrap();
    // The first instance counted three points, the second one only its own.
    assert_eq!(req.context("seen"), Some("3"));
    second.found_product(&mut req).unwrap();
    assert_eq!(req.context("seen"), Some("2"));
    // Another request starts from nothing.
    let mut other = FakeRequest::get("/");
    first.found_product(&mut other).unwrap();
    assert_eq!(other.context("seen"), Some("1"));
}

#[test]
fn another_type_in_the_same_slot_is_a_plugin_error() {
    fn init(_: &str, reg: &mut Registry<'_>) -> Result<(), String> {
        reg.on_before_location(|req| {
            *req.local::<u32>() = 7;
            Outcome::GoOn
        });
        reg.on_found_product(|req| {
            req.local::<String>().push('x');
            Outcome::GoOn
        });
        Ok(())
    }
    let plugin = TestPlugin::init(init, "").unwrap();
    let mut req = FakeRequest::get("/");
    plugin.before_location(&mut req).unwrap();
    let err = plugin.found_product(&mut req).unwrap_err();
    assert!(
        err.contains("another type than alloc::string::String"),
        "{err}"
    );
}

/// Counts its drops; panics in the second one if told to.
struct Tracked(Arc<AtomicUsize>, bool);

impl Default for Tracked {
    fn default() -> Self {
        Tracked(Arc::new(AtomicUsize::new(0)), false)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        if self.1 {
            panic!("a plugin's state panicked in Drop");
        }
    }
}

#[test]
fn state_is_dropped_with_the_request_and_its_panics_stay_in_the_plugin() {
    let drops = Arc::new(AtomicUsize::new(0));
    let handle = Arc::clone(&drops);
    let init = move |_: &str, reg: &mut Registry<'_>| -> Result<(), String> {
        let handle = Arc::clone(&handle);
        reg.on_before_location(move |req| {
            let panics = req.path() == "/panic";
            let state = req.local::<Tracked>();
            state.0 = Arc::clone(&handle);
            state.1 = panics;
            Outcome::GoOn
        });
        Ok(())
    };
    let plugin = TestPlugin::init(init, "").unwrap();
    let mut req = FakeRequest::get("/");
    plugin.before_location(&mut req).unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(req);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let mut req = FakeRequest::get("/panic");
    plugin.before_location(&mut req).unwrap();
    drop(req);
    assert_eq!(drops.load(Ordering::SeqCst), 2, "dropped, the panic caught");
}

#[test]
fn connection_state_outlives_requests_and_can_be_taken() {
    fn init(_: &str, reg: &mut Registry<'_>) -> Result<(), String> {
        reg.on_accept(|session| {
            *session.local::<u64>() += 1;
            Action::GoOn
        });
        reg.on_before_location(|req| {
            let seen = {
                let mut session = req.session();
                let accepted = *session.local::<u64>();
                let taken = session.take_local::<u64>();
                // Taken, the slot starts again from Default.
                let again = *session.local::<u64>();
                format!("{accepted} {taken:?} {again}")
            };
            req.set_context("accepted", &seen);
            Outcome::GoOn
        });
        Ok(())
    }
    let plugin = TestPlugin::init(init, "").unwrap();
    let mut session = FakeSession::default();
    plugin.accept(&mut session).unwrap();
    plugin.accept(&mut session).unwrap();
    let mut req = FakeRequest::get("/").session(session);
    plugin.before_location(&mut req).unwrap();
    assert_eq!(req.context("accepted"), Some("2 Some(2) 0"));
}
