//! The header methods the request and response views share, over `http::HeaderMap`.
//!
//! Internal: reads borrow straight from the map (no allocation); index-based access
//! walks the map, which is fine for the dozen-or-so headers a message carries.

use hookgate_plugin_api::abi::{ROption, RSlice, RStr, Tuple2};
use std::cell::RefCell;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

pub(crate) fn get<'m>(map: &'m HeaderMap, name: RStr<'_>) -> ROption<RSlice<'m, u8>> {
    let value = match with_name(name.as_str(), |name| map.get(name)) {
        Some(found) => found,
        None => map.get(name.as_str()),
    };
    value.map(|v| RSlice::from(v.as_bytes())).into()
}

pub(crate) fn value_at<'m>(
    map: &'m HeaderMap,
    name: RStr<'_>,
    index: usize,
) -> ROption<RSlice<'m, u8>> {
    let values = match with_name(name.as_str(), |name| map.get_all(name)) {
        Some(values) => values,
        None => map.get_all(name.as_str()),
    };
    values
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

/// Header names and values that plugins handed over recently on this worker thread,
/// found by the address of their text.
///
/// Internal: plugins name headers with the same few strings on every request (a
/// literal, or a string of their config), and set many values from their config
/// too. Parsing a name (`HeaderName::from_bytes`, and `HeaderMap`'s look-up by
/// `&str`) lowercases and copies it, and a custom name is a new allocation; a value
/// is checked octet by octet and copied into a new allocation. Keyed by the text's
/// address, a look-up here is one comparison of the address and one of the text (the
/// text at an address may change, so it is always compared), and a hit is a
/// reference count increment. A miss costs what no cache would, plus a slot write.
/// A name matches its slot in any case, as header names do.
struct Interned {
    names: Slots<HeaderName>,
    values: Slots<HeaderValue>,
}

/// A two-way set-associative cache by address: each address may sit in one of two
/// neighbouring slots, and a miss replaces the one of the pair used less recently
/// (so a value that changes on every request, such as a request id, does not push out
/// a name used on every request that shares its pair).
struct Slots<T> {
    slots: [Option<Slot<T>>; SLOTS],
}

struct Slot<T> {
    address: usize,
    item: T,
    /// Whether this is the slot of its pair used last.
    used: bool,
}

/// Slots per kind: a demo chain hands over about a dozen distinct names.
const SLOTS: usize = 64;

impl<T> Slots<T> {
    const EMPTY: Slots<T> = Slots {
        slots: [const { None }; SLOTS],
    };

    /// The item kept for `address` that `same` accepts, or the one `make` makes (kept
    /// for next time); `None` if `make` gives none.
    fn get_or_make(
        &mut self,
        address: usize,
        same: impl Fn(&T) -> bool,
        make: impl FnOnce() -> Option<T>,
    ) -> Option<&T> {
        // Fibonacci hashing: the top bits of the product spread nearby addresses.
        let first = (address.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) & !1;
        let hit = (first..first + 2).find(|&at| {
            matches!(&self.slots[at], Some(slot) if slot.address == address && same(&slot.item))
        });
        let at = match hit {
            Some(at) => at,
            None => {
                let item = make()?;
                // The way not used last in this pair (an empty one counts as such).
                let at = (first..first + 2)
                    .find(|&at| self.slots[at].as_ref().is_none_or(|slot| !slot.used))
                    .unwrap_or(first);
                self.slots[at] = Some(Slot {
                    address,
                    item,
                    used: false,
                });
                at
            }
        };
        if let Some(other) = &mut self.slots[at ^ 1] {
            other.used = false;
        }
        let slot = self.slots[at].as_mut()?;
        slot.used = true;
        Some(&slot.item)
    }
}

thread_local! {
    static INTERNED: RefCell<Interned> = const {
        RefCell::new(Interned {
            names: Slots::EMPTY,
            values: Slots::EMPTY,
        })
    };
}

/// Runs `f` on `name` as a `HeaderName` from the cache, parsing and keeping it on a
/// miss; `None` (without calling `f`) if `name` is not a valid header name, or (never
/// in practice) if the cache is in use further up this thread's stack, where the
/// caller looks `name` up by text.
fn with_name<R>(name: &str, f: impl FnOnce(&HeaderName) -> R) -> Option<R> {
    INTERNED.with(|interned| {
        let mut interned = interned.try_borrow_mut().ok()?;
        interned
            .names
            .get_or_make(
                name.as_ptr() as usize,
                |known| same_name(known, name),
                || HeaderName::from_bytes(name.as_bytes()).ok(),
            )
            .map(f)
    })
}

/// Whether `given` spells `known` in any case. Internal: comparing the bytes settles
/// the usual lowercase spelling (a `memcmp`); the case-blind comparison goes octet by
/// octet.
fn same_name(known: &HeaderName, given: &str) -> bool {
    let known = known.as_str().as_bytes();
    known == given.as_bytes() || known.eq_ignore_ascii_case(given.as_bytes())
}

/// `name` as a `HeaderName`; `None` if it is not a valid one.
fn header_name(name: &str) -> Option<HeaderName> {
    with_name(name, HeaderName::clone).or_else(|| HeaderName::from_bytes(name.as_bytes()).ok())
}

/// `text` as a `HeaderValue`; `None` if it is not a valid one. From the cache when
/// the same text at the same address was handed over before, otherwise copied (and
/// kept).
fn interned_value(text: &str) -> Option<HeaderValue> {
    INTERNED.with(|interned| {
        let Ok(mut interned) = interned.try_borrow_mut() else {
            return header_value(text);
        };
        interned
            .values
            .get_or_make(
                text.as_ptr() as usize,
                |known| known.as_bytes() == text.as_bytes(),
                || header_value(text),
            )
            .cloned()
    })
}

fn parse(name: RStr<'_>, value: RStr<'_>) -> Option<(HeaderName, HeaderValue)> {
    let name = header_name(name.as_str())?;
    let value = interned_value(value.as_str())?;
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
    match with_name(name.as_str(), |name| map.remove(name)) {
        Some(removed) => removed.is_some(),
        None => map.remove(name.as_str()).is_some(),
    }
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
    }

    /// The text at an address a plugin handed over may change between calls (a
    /// buffer it reuses): the cache must give the new text's name and value.
    #[test]
    fn text_changed_in_place_is_not_taken_from_the_cache() {
        let mut name = String::from("x-first");
        let mut value = String::from("one");
        assert_eq!(header_name(&name), Some(HeaderName::from_static("x-first")));
        assert_eq!(
            interned_value(&value),
            Some(HeaderValue::from_static("one"))
        );
        name.replace_range(.., "x-other");
        value.replace_range(.., "two");
        assert_eq!(header_name(&name), Some(HeaderName::from_static("x-other")));
        assert_eq!(
            interned_value(&value),
            Some(HeaderValue::from_static("two"))
        );
        name.replace_range(.., "x bad!");
        value.replace_range(.., "a\nb");
        assert_eq!(header_name(&name), None);
        assert_eq!(interned_value(&value), None);
        name.replace_range(.., "X-OTHER");
        assert_eq!(header_name(&name), Some(HeaderName::from_static("x-other")));
    }

    /// Addresses that share one pair of slots: one used on every round keeps its
    /// slot while two others (a value that changes on every request) take turns in the
    /// other.
    #[test]
    fn a_steady_item_outlives_churn_in_its_pair() {
        let pair = |a: usize| (a.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) & !1;
        let mut same_pair = (1..).map(|a| a * 8).filter(|&a| pair(a) == pair(8));
        let (steady, churn_a, churn_b) = (8, same_pair.nth(1).unwrap(), same_pair.next().unwrap());
        let mut slots = Slots::<u32>::EMPTY;
        let mut made = 0;
        for round in 0..10 {
            let churn = if round % 2 == 0 { churn_a } else { churn_b };
            for address in [steady, churn] {
                let item = slots.get_or_make(
                    address,
                    |_| true,
                    || {
                        made += 1;
                        Some(address as u32)
                    },
                );
                assert_eq!(item, Some(&(address as u32)));
            }
        }
        // The steady item was made once; each churning one on every round.
        assert_eq!(made, 1 + 10);
        assert_eq!(slots.get_or_make(steady, |&i| i == 7, || Some(7)), Some(&7));
        assert_eq!(slots.get_or_make(churn_a, |_| false, || None), None);
    }

    #[test]
    fn look_ups_take_any_case_and_reject_bad_names() {
        let mut map = HeaderMap::new();
        assert!(set(&mut map, "X-Hello".into(), "world".into()));
        assert!(add(&mut map, "x-hello".into(), "again".into()));
        assert!(!set(&mut map, "bad name".into(), "v".into()));
        assert!(!set(&mut map, "x-ok".into(), "bad\r\nvalue".into()));
        for name in ["x-hello", "X-HELLO", "X-Hello"] {
            assert_eq!(
                get(&map, name.into()).map(|v| v.as_slice()),
                ROption::RSome(&b"world"[..])
            );
            assert_eq!(
                value_at(&map, name.into(), 1).map(|v| v.as_slice()),
                ROption::RSome(&b"again"[..])
            );
        }
        assert_eq!(get(&map, "bad name".into()), ROption::RNone);
        assert!(remove(&mut map, "X-Hello".into()));
        assert!(!remove(&mut map, "x-hello".into()));
        assert!(map.is_empty());
    }
}
