//! A fake host for unit-testing handlers without running the proxy (feature `testing`).
//!
//! [`TestPlugin::init`] runs a plugin's init function against a registry that collects
//! its handlers, and then calls them through the same ABI objects the proxy uses, so
//! panics are caught and reported exactly as in production. [`FakeSession`],
//! [`FakeRequest`] and [`FakeResponse`] are the views, with builders to set them up and
//! getters to check what the handlers changed.
//!
//! ```
//! use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
//! use hookgate_plugin_api::{Outcome, Registry, Reply};
//!
//! fn init(_: &str, reg: &mut Registry<'_>) -> Result<(), String> {
//!     reg.on_found_product(|req| match req.header("x-token") {
//!         Some("secret") => Outcome::GoOn,
//!         _ => Outcome::Respond(Reply::new(401)),
//!     });
//!     Ok(())
//! }
//!
//! let plugin = TestPlugin::init(init, "").unwrap();
//! let mut req = FakeRequest::get("/").header("x-token", "secret");
//! assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn));
//! let mut req = FakeRequest::get("/");
//! assert_eq!(plugin.found_product(&mut req), Ok(Outcome::Respond(Reply::new(401))));
//! ```

mod callouts;
mod fake_request;
mod fake_response;
mod fake_session;
mod peer;
mod plugin;

pub use fake_request::FakeRequest;
pub use fake_response::FakeResponse;
pub use fake_session::FakeSession;
pub use plugin::{LogRecord, TestPlugin};

/// Whether `name` is a valid HTTP header name (an RFC 9110 token).
fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `value` is a valid HTTP header value (no control characters but tab).
fn valid_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// A header list as the fakes keep it: lowercase names, in order.
#[derive(Clone, Debug, Default)]
struct HeaderList(Vec<(String, String)>);

impl HeaderList {
    fn get(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }

    fn values<'s, 'n>(&'s self, name: &'n str) -> impl Iterator<Item = &'s str> + use<'s, 'n> {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn add(&mut self, name: &str, value: &str) -> bool {
        if !valid_header_name(name) || !valid_header_value(value) {
            return false;
        }
        self.0.push((name.to_ascii_lowercase(), value.to_owned()));
        true
    }

    fn set(&mut self, name: &str, value: &str) -> bool {
        if !valid_header_name(name) || !valid_header_value(value) {
            return false;
        }
        self.remove(name);
        self.add(name, value)
    }

    fn remove(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.0.len() != before
    }
}

/// Typed state per plugin instance, as the proxy keeps it (the same
/// [`Locals`](crate::abi::Locals)); a clone of a fake request or session starts without
/// any.
#[derive(Default)]
struct FakeLocals(crate::abi::Locals);

impl Clone for FakeLocals {
    fn clone(&self) -> Self {
        FakeLocals::default()
    }
}

impl std::fmt::Debug for FakeLocals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A string key/value context, as sessions and requests keep it.
#[derive(Clone, Debug, Default)]
struct Context(Vec<(String, String)>);

impl Context {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn set(&mut self, key: &str, value: &str) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.to_owned(),
            None => self.0.push((key.to_owned(), value.to_owned())),
        }
    }
}

/// Implements the header methods of a view trait over a [`HeaderList`] field.
macro_rules! header_methods {
    ($field:ident) => {
        fn header(&self, name: RStr<'_>) -> ROption<RSlice<'_, u8>> {
            self.$field
                .get(name.as_str())
                .map(|v| RSlice::from(v.as_bytes()))
                .into()
        }
        fn header_value_at(&self, name: RStr<'_>, index: usize) -> ROption<RSlice<'_, u8>> {
            self.$field
                .values(name.as_str())
                .nth(index)
                .map(|v| RSlice::from(v.as_bytes()))
                .into()
        }
        fn header_count(&self) -> usize {
            self.$field.0.len()
        }
        fn header_at(&self, index: usize) -> ROption<Tuple2<RStr<'_>, RSlice<'_, u8>>> {
            self.$field
                .0
                .get(index)
                .map(|(n, v)| Tuple2(RStr::from(n.as_str()), RSlice::from(v.as_bytes())))
                .into()
        }
        fn set_header(&mut self, name: RStr<'_>, value: RStr<'_>) -> bool {
            self.$field.set(name.as_str(), value.as_str())
        }
        fn add_header(&mut self, name: RStr<'_>, value: RStr<'_>) -> bool {
            self.$field.add(name.as_str(), value.as_str())
        }
        fn remove_header(&mut self, name: RStr<'_>) -> bool {
            self.$field.remove(name.as_str())
        }
    };
}
use header_methods;

#[cfg(test)]
mod tests;
