//! The header methods the request and response views share, over `http::HeaderMap`.
//!
//! Internal: reads borrow straight from the map (no allocation); index-based access
//! walks the map, which is fine for the dozen-or-so headers a message carries.

use hookgate_plugin_api::abi::{ROption, RSlice, RStr, Tuple2};
use std::cell::RefCell;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

pub(crate) fn get<'m>(map: &'m HeaderMap, name: RStr<'_>) -> ROption<RSlice<'m, u8>> {
    map.get(name.as_str())
        .map(|v| RSlice::from(v.as_bytes()))
        .into()
}

pub(crate) fn value_at<'m>(
    map: &'m HeaderMap,
    name: RStr<'_>,
    index: usize,
) -> ROption<RSlice<'m, u8>> {
    map.get_all(name.as_str())
        .iter()
        .nth(index)
        .map(|v| RSlice::from(v.as_bytes()))
        .into()
}

pub(crate) fn at(map: &HeaderMap, index: usize) -> ROption<Tuple2<RStr<'_>, RSlice<'_, u8>>> {
    map.iter()
        .nth(index)
        .map(|(n, v)| Tuple2(RStr::from(n.as_str()), RSlice::from(v.as_bytes())))
        .into()
}

/// Names parsed recently on this worker thread, at most this many.
const NAME_CACHE: usize = 32;

thread_local! {
    static NAMES: RefCell<Vec<HeaderName>> = const { RefCell::new(Vec::new()) };
}

/// `name` as a `HeaderName`. Internal: parsing a non-standard name (`x-request-id`)
/// lowercases and copies it into a new allocation on every call, and plugins set the
/// same few names on every request; a clone from this per-thread list is a reference
/// count increment.
fn header_name(name: &str) -> Option<HeaderName> {
    NAMES.with(|names| {
        if let Some(found) = names.borrow().iter().find(|n| n.as_str() == name) {
            return Some(found.clone());
        }
        let parsed = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let mut names = names.borrow_mut();
        if names.len() < NAME_CACHE && parsed.as_str() == name {
            names.push(parsed.clone());
        }
        Some(parsed)
    })
}

fn parse(name: RStr<'_>, value: RStr<'_>) -> Option<(HeaderName, HeaderValue)> {
    let name = header_name(name.as_str())?;
    let value = header_value(value.as_str())?;
    Some((name, value))
}

/// `text` as a `HeaderValue`, copied; `None` if it is not a valid one.
///
/// Internal: `HeaderValue::from_str` copies into a `Bytes` made from a vector, which
/// allocates again (and makes the value shared) on its first clone: the request's
/// headers are cloned for every attempt upstream, so a value a plugin set cost two
/// allocations. A short value is instead copied into a [`Short`] that a `Bytes` owns:
/// one allocation, and clones only count references.
fn header_value(text: &str) -> Option<HeaderValue> {
    match Short::new(text.as_bytes()) {
        Some(short) => HeaderValue::from_maybe_shared(Bytes::from_owner(short)).ok(),
        None => HeaderValue::from_str(text).ok(),
    }
}

/// A header value of at most [`Short::CAPACITY`] bytes, held inline.
struct Short {
    len: u8,
    bytes: [u8; Short::CAPACITY],
}

impl Short {
    /// Room for a request id (32 hex digits, or a UUID's 36 characters) and most
    /// values plugins set; with the length and `Bytes`' reference count, one
    /// 64-byte allocation.
    const CAPACITY: usize = 47;

    fn new(text: &[u8]) -> Option<Short> {
        let len = u8::try_from(text.len())
            .ok()
            .filter(|&l| usize::from(l) <= Self::CAPACITY)?;
        let mut bytes = [0; Self::CAPACITY];
        bytes[..text.len()].copy_from_slice(text);
        Some(Short { len, bytes })
    }
}

impl AsRef<[u8]> for Short {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

pub(crate) fn set(map: &mut HeaderMap, name: RStr<'_>, value: RStr<'_>) -> bool {
    parse(name, value).map(|(n, v)| map.insert(n, v)).is_some()
}

pub(crate) fn add(map: &mut HeaderMap, name: RStr<'_>, value: RStr<'_>) -> bool {
    parse(name, value).map(|(n, v)| map.append(n, v)).is_some()
}

pub(crate) fn remove(map: &mut HeaderMap, name: RStr<'_>) -> bool {
    map.remove(name.as_str()).is_some()
}

/// Implements the seven header methods of a view trait over a `HeaderMap` field.
macro_rules! header_methods {
    ($($field:ident).+) => {
        fn header(&self, name: RStr<'_>) -> ROption<RSlice<'_, u8>> {
            $crate::header_view::get(&self.$($field).+, name)
        }
        fn header_value_at(&self, name: RStr<'_>, index: usize) -> ROption<RSlice<'_, u8>> {
            $crate::header_view::value_at(&self.$($field).+, name, index)
        }
        fn header_count(&self) -> usize {
            self.$($field).+.len()
        }
        fn header_at(&self, index: usize) -> ROption<Tuple2<RStr<'_>, RSlice<'_, u8>>> {
            $crate::header_view::at(&self.$($field).+, index)
        }
        fn set_header(&mut self, name: RStr<'_>, value: RStr<'_>) -> bool {
            $crate::header_view::set(&mut self.$($field).+, name, value)
        }
        fn add_header(&mut self, name: RStr<'_>, value: RStr<'_>) -> bool {
            $crate::header_view::add(&mut self.$($field).+, name, value)
        }
        fn remove_header(&mut self, name: RStr<'_>) -> bool {
            $crate::header_view::remove(&mut self.$($field).+, name)
        }
    };
}
pub(crate) use header_methods;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_any_length_are_checked_and_kept() {
        for text in [
            "",
            "1",
            &"x".repeat(Short::CAPACITY),
            &"y".repeat(Short::CAPACITY + 1),
        ] {
            let value = header_value(text).unwrap();
            assert_eq!(value, HeaderValue::from_str(text).unwrap());
            assert_eq!(value.clone().as_bytes(), text.as_bytes());
        }
        assert_eq!(header_value("a\nb"), None);
        assert_eq!(header_value(&format!("{}\r", "z".repeat(60))), None);
    }

    #[test]
    fn names_parse_the_same_from_the_cache() {
        for _ in 0..2 {
            assert_eq!(
                header_name("x-request-id"),
                Some(HeaderName::from_static("x-request-id"))
            );
            assert_eq!(
                header_name("X-Mixed"),
                Some(HeaderName::from_static("x-mixed"))
            );
            assert_eq!(
                header_name("content-type"),
                Some(http::header::CONTENT_TYPE)
            );
            assert_eq!(header_name("bad name"), None);
        }
        // Only exact (lowercase) spellings are kept: a lookup compares text as given.
        NAMES.with(|names| assert!(names.borrow().iter().all(|n| n.as_str() != "X-Mixed")));
    }
}
