//! Typed state per plugin instance, per request ([`Request::local`]) and per
//! connection ([`Session::local`]), kept by the host between calls.
//!
//! Internal: the value lives in a [`Slot`], erased as an [`LocalAny`] owned by the
//! host; only this library can take it back, as the type it was made with. The slot's
//! drop runs when the host drops the request or the connection, so a panic in the
//! value's `Drop` is caught there (it would otherwise unwind into the host).
//!
//! [`Request::local`]: crate::Request::local
//! [`Session::local`]: crate::Session::local

use std::any::type_name;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::abi::{LocalAny, RMut, ROption, RequestViewMut, SessionViewMut};

/// A view that keeps typed state: the request's and the session's.
pub(crate) trait LocalHost {
    fn local(&mut self, instance: u32) -> ROption<RMut<'_, LocalAny>>;
    fn set_local(&mut self, instance: u32, value: LocalAny);
}

impl LocalHost for RequestViewMut<'_> {
    fn local(&mut self, instance: u32) -> ROption<RMut<'_, LocalAny>> {
        crate::abi::RequestView::local(self, instance)
    }

    fn set_local(&mut self, instance: u32, value: LocalAny) {
        crate::abi::RequestView::set_local(self, instance, value);
    }
}

impl LocalHost for SessionViewMut<'_> {
    fn local(&mut self, instance: u32) -> ROption<RMut<'_, LocalAny>> {
        crate::abi::SessionView::local(self, instance)
    }

    fn set_local(&mut self, instance: u32, value: LocalAny) {
        crate::abi::SessionView::set_local(self, instance, value);
    }
}

/// The value behind a [`LocalAny`]; its drop catches a panic of `T`'s.
struct Slot<T>(Option<T>);

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            // A panicking Drop of plugin state costs nothing but the state.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
        }
    }
}

/// Instance `instance`'s state in `host`, created with `T::default()` on first use.
///
/// # Panics
///
/// When the state holds another type (one type per instance and scope: use one
/// struct); the SDK turns the panic into a plugin error.
pub(crate) fn state<T: Default + Send + 'static>(
    host: &mut impl LocalHost,
    instance: u32,
) -> &mut T {
    if host.local(instance).is_none() {
        host.set_local(instance, LocalAny::from_value(Slot(Some(T::default()))));
    }
    let ROption::RSome(any) = host.local(instance) else {
        panic!("the host did not keep this plugin's state");
    };
    match any.into_mut().downcast_as_mut::<Slot<T>>() {
        // Empty after `take`: filled again.
        Ok(slot) => slot.0.get_or_insert_with(T::default),
        Err(_) => panic!(
            "this plugin's state already holds another type than {}: keep one type per \
             request and per connection",
            type_name::<T>()
        ),
    }
}

/// Instance `instance`'s state in `host`, taken out (the host keeps an empty slot).
pub(crate) fn take<T: Send + 'static>(host: &mut impl LocalHost, instance: u32) -> Option<T> {
    let any = host.local(instance).into_option()?;
    any.into_mut().downcast_as_mut::<Slot<T>>().ok()?.0.take()
}

#[cfg(all(test, feature = "testing"))]
mod tests;
