//! The header methods the request and response views share, over `http::HeaderMap`.
//!
//! Internal: reads borrow straight from the map (no allocation); index-based access
//! walks the map, which is fine for the dozen-or-so headers a message carries.

use hookgate_plugin_api::abi::{ROption, RSlice, RStr, Tuple2};
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

fn parse(name: RStr<'_>, value: RStr<'_>) -> Option<(HeaderName, HeaderValue)> {
    let name = HeaderName::from_bytes(name.as_str().as_bytes()).ok()?;
    let value = HeaderValue::from_str(value.as_str()).ok()?;
    Some((name, value))
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
