//! The primitives: BFE's names and signatures, compiled once into typed values
//! (lists split on `|`, case folded, IP ranges parsed) that test [`Facts`] without
//! allocating.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::{Facts, ParseError};

/// A literal argument as written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    Str(String),
    Int(i64),
    Bool(bool),
}

/// An argument and its column, for errors that point at it.
pub(crate) struct Arg {
    pub(crate) value: Literal,
    pub(crate) column: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Str,
    Bool,
}

use Kind::{Bool, Str};

/// Every supported primitive with its parameters, as BFE documents them.
const SIGNATURES: &[(&str, &[(&str, Kind)])] = &[
    ("default_t", &[]),
    ("req_host_in", &[("host_list", Str)]),
    ("req_host_suffix_in", &[("suffix_list", Str)]),
    (
        "req_path_in",
        &[("path_list", Str), ("case_insensitive", Bool)],
    ),
    (
        "req_path_prefix_in",
        &[("prefix_list", Str), ("case_insensitive", Bool)],
    ),
    (
        "req_path_suffix_in",
        &[("suffix_list", Str), ("case_insensitive", Bool)],
    ),
    (
        "req_path_contain",
        &[("path_list", Str), ("case_insensitive", Bool)],
    ),
    (
        "req_path_element_prefix_in",
        &[("prefix_list", Str), ("case_insensitive", Bool)],
    ),
    ("req_method_in", &[("method_list", Str)]),
    ("req_query_exist", &[]),
    ("req_query_key_in", &[("key_list", Str)]),
    ("req_query_key_prefix_in", &[("prefix_list", Str)]),
    (
        "req_query_value_in",
        &[
            ("key", Str),
            ("value_list", Str),
            ("case_insensitive", Bool),
        ],
    ),
    (
        "req_query_value_prefix_in",
        &[
            ("key", Str),
            ("prefix_list", Str),
            ("case_insensitive", Bool),
        ],
    ),
    (
        "req_query_value_suffix_in",
        &[
            ("key", Str),
            ("suffix_list", Str),
            ("case_insensitive", Bool),
        ],
    ),
    (
        "req_query_value_contain",
        &[
            ("key", Str),
            ("value_list", Str),
            ("case_insensitive", Bool),
        ],
    ),
    ("req_header_key_in", &[("key_list", Str)]),
    (
        "req_header_value_in",
        &[
            ("header_name", Str),
            ("value_list", Str),
            ("case_insensitive", Bool),
        ],
    ),
    (
        "req_header_value_prefix_in",
        &[
            ("header_name", Str),
            ("value_prefix_list", Str),
            ("case_insensitive", Bool),
        ],
    ),
    (
        "req_header_value_suffix_in",
        &[
            ("header_name", Str),
            ("value_suffix_list", Str),
            ("case_insensitive", Bool),
        ],
    ),
    (
        "req_header_value_contain",
        &[
            ("header_name", Str),
            ("value_list", Str),
            ("case_insensitive", Bool),
        ],
    ),
    ("req_cookie_key_in", &[("key_list", Str)]),
    (
        "req_cookie_value_in",
        &[
            ("key", Str),
            ("value_list", Str),
            ("case_insensitive", Bool),
        ],
    ),
    (
        "req_cookie_value_prefix_in",
        &[
            ("key", Str),
            ("value_prefix_list", Str),
            ("case_insensitive", Bool),
        ],
    ),
    (
        "req_cookie_value_suffix_in",
        &[
            ("key", Str),
            ("value_suffix_list", Str),
            ("case_insensitive", Bool),
        ],
    ),
    (
        "req_cookie_value_contain",
        &[
            ("key", Str),
            ("value_list", Str),
            ("case_insensitive", Bool),
        ],
    ),
    ("req_cip_range", &[("start_ip", Str), ("end_ip", Str)]),
    ("req_cip_trusted", &[]),
    ("req_proto_secure", &[]),
    ("req_port_in", &[("port_list", Str)]),
    ("ses_tls_sni_in", &[("host_list", Str)]),
    ("ses_sip_range", &[("start_ip", Str), ("end_ip", Str)]),
];

/// BFE request/session primitives this kit leaves out (see the crate docs).
pub(crate) const LEFT_OUT: &[&str] = &[
    "req_host_regmatch",
    "req_host_tag_in",
    "req_path_regmatch",
    "req_url_regmatch",
    "req_query_value_regmatch",
    "req_query_value_hash_in",
    "req_header_value_regmatch",
    "req_header_value_hash_in",
    "req_ua_regmatch",
    "req_cookie_value_hash_in",
    "req_cip_hash_in",
    "req_vip_in",
    "req_vip_range",
    "req_proto_match",
    "req_tag_match",
    "req_context_value_in",
    "req_body_json_in",
    "ses_vip_range",
    "ses_tls_client_auth",
    "ses_tls_client_ca_in",
];

/// One compiled primitive.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Primitive {
    DefaultT,
    /// Lowercase hosts without port; the request's port is ignored.
    HostIn(Vec<String>),
    /// Lowercase suffixes; the request's port is ignored.
    HostSuffixIn(Vec<String>),
    Path(Values),
    /// Uppercase methods, compared ignoring ASCII case.
    MethodIn(Vec<String>),
    QueryExist,
    QueryKeyIn(Vec<String>),
    QueryKeyPrefixIn(Vec<String>),
    QueryValue {
        key: String,
        values: Values,
    },
    /// Lowercase header names.
    HeaderKeyIn(Vec<String>),
    /// `name` is lowercase.
    HeaderValue {
        name: String,
        values: Values,
    },
    CookieKeyIn(Vec<String>),
    CookieValue {
        key: String,
        values: Values,
    },
    CipRange(IpRange),
    CipTrusted,
    ProtoSecure,
    PortIn(Vec<u16>),
    /// Lowercase server names.
    SniIn(Vec<String>),
    SipRange(IpRange),
}

/// How a request value is compared with a list of patterns.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum How {
    In,
    Prefix,
    Suffix,
    Contain,
    /// Prefix on whole path elements: value and patterns end in `/` (added if absent).
    ElementPrefix,
}

/// A pattern list and its comparison; patterns are lowercase when `fold_case`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Values {
    how: How,
    patterns: Vec<String>,
    fold_case: bool,
}

impl Values {
    pub(crate) fn new(how: How, patterns: Vec<String>, fold_case: bool) -> Values {
        let patterns = patterns
            .into_iter()
            .map(|p| {
                let p = if fold_case { p.to_ascii_lowercase() } else { p };
                if how == How::ElementPrefix && !p.ends_with('/') {
                    p + "/"
                } else {
                    p
                }
            })
            .collect();
        Values {
            how,
            patterns,
            fold_case,
        }
    }

    fn split(how: How, list: &str, fold_case: bool) -> Values {
        Values::new(how, split(list), fold_case)
    }

    fn test(&self, value: &str) -> bool {
        // Internal: the comparison is chosen once, and each instance has it inlined.
        if self.fold_case {
            self.test_with(value.as_bytes(), <[u8]>::eq_ignore_ascii_case)
        } else {
            self.test_with(value.as_bytes(), <[u8]>::eq)
        }
    }

    #[inline(always)]
    fn test_with(&self, v: &[u8], eq: impl Fn(&[u8], &[u8]) -> bool) -> bool {
        let mut patterns = self.patterns.iter().map(String::as_bytes);
        match self.how {
            How::In => patterns.any(|p| v.len() == p.len() && eq(v, p)),
            How::Prefix => patterns.any(|p| v.get(..p.len()).is_some_and(|v| eq(v, p))),
            How::Suffix => patterns
                .any(|p| (v.len().checked_sub(p.len())).is_some_and(|start| eq(&v[start..], p))),
            How::Contain => patterns.any(|p| p.is_empty() || v.windows(p.len()).any(|w| eq(w, p))),
            // BFE appends '/' to the value when absent; without allocating: either the
            // value itself starts with the pattern, or the value is the pattern without
            // its final '/'.
            How::ElementPrefix => patterns.any(|p| {
                v.get(..p.len()).is_some_and(|v| eq(v, p))
                    || (!v.ends_with(b"/") && v.len() + 1 == p.len() && eq(v, &p[..v.len()]))
            }),
        }
    }
}

/// An inclusive range of addresses of one family.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct IpRange {
    start: IpAddr,
    end: IpAddr,
}

impl IpRange {
    pub(crate) fn new(start: IpAddr, end: IpAddr) -> Result<IpRange, String> {
        if start.is_ipv4() != end.is_ipv4() {
            return Err(format!("{start} and {end} are not of the same family"));
        }
        if end < start {
            return Err(format!("start {start} is after end {end}"));
        }
        Ok(IpRange { start, end })
    }

    fn contains(&self, ip: Option<IpAddr>) -> bool {
        // BFE compares 16-byte forms, so an IPv4-mapped IPv6 client matches an IPv4
        // range; `to_canonical` gives the same result.
        let Some(ip) = ip.map(|ip| ip.to_canonical()) else {
            return false;
        };
        ip.is_ipv4() == self.start.is_ipv4() && self.start <= ip && ip <= self.end
    }
}

impl Primitive {
    pub(crate) fn matches<F: Facts + ?Sized>(&self, facts: &F) -> bool {
        match self {
            Primitive::DefaultT => true,
            Primitive::HostIn(hosts) => {
                let host = without_port(facts.host());
                hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
            }
            Primitive::HostSuffixIn(suffixes) => {
                let host = without_port(facts.host()).as_bytes();
                suffixes.iter().any(|s| {
                    host.len() >= s.len()
                        && host[host.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
                })
            }
            Primitive::Path(values) => values.test(facts.path()),
            Primitive::MethodIn(methods) => methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(facts.method())),
            Primitive::QueryExist => query_pairs(facts.query()).next().is_some(),
            Primitive::QueryKeyIn(keys) => {
                query_pairs(facts.query()).any(|(k, _)| keys.iter().any(|key| *key == k))
            }
            Primitive::QueryKeyPrefixIn(prefixes) => query_pairs(facts.query())
                .any(|(k, _)| prefixes.iter().any(|p| k.starts_with(p.as_str()))),
            Primitive::QueryValue { key, values } => {
                // url.Values.Get: the first value, or "" when the key is absent.
                let first = query_pairs(facts.query()).find(|(k, _)| k == key);
                values.test(first.as_ref().map_or("", |(_, v)| v))
            }
            Primitive::HeaderKeyIn(names) => names
                .iter()
                .any(|n| facts.header(n).is_some_and(|v| !v.is_empty())),
            Primitive::HeaderValue { name, values } => {
                // Header.Get: the first value, or "" when the header is absent.
                values.test(facts.header(name).unwrap_or(""))
            }
            Primitive::CookieKeyIn(keys) => keys.iter().any(|k| cookie(facts, k).is_some()),
            Primitive::CookieValue { key, values } => {
                cookie(facts, key).is_some_and(|v| values.test(v))
            }
            Primitive::CipRange(range) => range.contains(facts.client_ip()),
            Primitive::CipTrusted => facts.client_ip_trusted(),
            Primitive::ProtoSecure => facts.is_secure(),
            Primitive::PortIn(ports) => facts.port().is_some_and(|p| ports.contains(&p)),
            Primitive::SniIn(names) => facts
                .sni()
                .is_some_and(|sni| names.iter().any(|n| n.eq_ignore_ascii_case(sni))),
            Primitive::SipRange(range) => range.contains(facts.peer_ip()),
        }
    }
}

/// Compiles the call `name(args)` found at `column`.
pub(crate) fn compile(name: &str, column: usize, args: Vec<Arg>) -> Result<Primitive, ParseError> {
    let Some((_, params)) = SIGNATURES.iter().find(|(n, _)| *n == name) else {
        return Err(unknown(name, column));
    };
    if args.len() != params.len() {
        let names: Vec<&str> = params.iter().map(|(n, _)| *n).collect();
        return Err(ParseError::new(
            column,
            format!(
                "{name} takes {} argument{} ({}), got {}",
                params.len(),
                if params.len() == 1 { "" } else { "s" },
                names.join(", "),
                args.len()
            ),
        ));
    }
    for (i, (arg, (param, kind))) in args.iter().zip(params.iter()).enumerate() {
        let ok = matches!(
            (&arg.value, kind),
            (Literal::Str(_), Kind::Str) | (Literal::Bool(_), Kind::Bool)
        );
        if !ok {
            let want = if *kind == Kind::Str {
                "a string"
            } else {
                "a bool"
            };
            let got = match arg.value {
                Literal::Str(_) => "a string",
                Literal::Int(_) => "an integer",
                Literal::Bool(_) => "a bool",
            };
            return Err(ParseError::new(
                arg.column,
                format!(
                    "{name}: argument {} ({param}) must be {want}, got {got}",
                    i + 1
                ),
            ));
        }
    }
    let text = |i: usize| match &args[i].value {
        Literal::Str(s) => s.as_str(),
        _ => "",
    };
    let flag = |i: usize| args[i].value == Literal::Bool(true);
    let bad =
        |i: usize, message: String| ParseError::new(args[i].column, format!("{name}: {message}"));
    let path = |how| Primitive::Path(Values::split(how, text(0), flag(1)));
    let keyed = |how| (text(0).to_owned(), Values::split(how, text(1), flag(2)));
    let range = || {
        let ip = |i: usize| {
            text(i)
                .parse::<IpAddr>()
                .map_err(|_| bad(i, format!("invalid IP address {:?}", text(i))))
        };
        IpRange::new(ip(0)?, ip(1)?).map_err(|m| bad(0, m))
    };
    Ok(match name {
        "default_t" => Primitive::DefaultT,
        "req_host_in" => {
            let hosts = split(text(0));
            if let Some(h) = hosts.iter().find(|h| h.contains(':')) {
                return Err(bad(0, format!("a host must not include a port ({h:?})")));
            }
            Primitive::HostIn(lower(hosts))
        }
        "req_host_suffix_in" => Primitive::HostSuffixIn(lower(split(text(0)))),
        "req_path_in" => path(How::In),
        "req_path_prefix_in" => path(How::Prefix),
        "req_path_suffix_in" => path(How::Suffix),
        "req_path_contain" => path(How::Contain),
        "req_path_element_prefix_in" => path(How::ElementPrefix),
        "req_method_in" => Primitive::MethodIn(upper(split(text(0)))),
        "req_query_exist" => Primitive::QueryExist,
        "req_query_key_in" => Primitive::QueryKeyIn(split(text(0))),
        "req_query_key_prefix_in" => Primitive::QueryKeyPrefixIn(split(text(0))),
        "req_query_value_in"
        | "req_query_value_prefix_in"
        | "req_query_value_suffix_in"
        | "req_query_value_contain" => {
            let (key, values) = keyed(how_of(name));
            Primitive::QueryValue { key, values }
        }
        "req_header_key_in" => Primitive::HeaderKeyIn(lower(split(text(0)))),
        "req_header_value_in"
        | "req_header_value_prefix_in"
        | "req_header_value_suffix_in"
        | "req_header_value_contain" => {
            let (name, values) = keyed(how_of(name));
            Primitive::HeaderValue {
                name: name.to_ascii_lowercase(),
                values,
            }
        }
        "req_cookie_key_in" => Primitive::CookieKeyIn(split(text(0))),
        "req_cookie_value_in"
        | "req_cookie_value_prefix_in"
        | "req_cookie_value_suffix_in"
        | "req_cookie_value_contain" => {
            let (key, values) = keyed(how_of(name));
            Primitive::CookieValue { key, values }
        }
        "req_cip_range" => Primitive::CipRange(range()?),
        "req_cip_trusted" => Primitive::CipTrusted,
        "req_proto_secure" => Primitive::ProtoSecure,
        "req_port_in" => {
            let mut ports = Vec::new();
            for p in text(0).split('|') {
                ports.push(
                    p.parse::<u16>()
                        .map_err(|_| bad(0, format!("invalid port {p:?}")))?,
                );
            }
            Primitive::PortIn(ports)
        }
        "ses_tls_sni_in" => Primitive::SniIn(lower(split(text(0)))),
        "ses_sip_range" => Primitive::SipRange(range()?),
        // SIGNATURES and this match list the same names.
        _ => return Err(unknown(name, column)),
    })
}

fn how_of(name: &str) -> How {
    if name.ends_with("_prefix_in") {
        How::Prefix
    } else if name.ends_with("_suffix_in") {
        How::Suffix
    } else if name.ends_with("_contain") {
        How::Contain
    } else {
        How::In
    }
}

fn unknown(name: &str, column: usize) -> ParseError {
    if LEFT_OUT.contains(&name) {
        return ParseError::new(
            column,
            format!("{name} is a BFE primitive this kit does not support"),
        );
    }
    let mut close: Vec<(usize, &str)> = SIGNATURES
        .iter()
        .map(|(n, _)| (distance(name, n), *n))
        .filter(|(d, n)| *d <= (name.len() / 4).max(1) || (name.len() >= 4 && n.contains(name)))
        .collect();
    close.sort();
    let close: Vec<&str> = close.iter().take(3).map(|(_, n)| *n).collect();
    let mut message = format!("unknown primitive {name}");
    if !close.is_empty() {
        message += &format!(" (did you mean {}?)", close.join(", "));
    }
    ParseError::new(column, message)
}

/// Levenshtein distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

fn split(list: &str) -> Vec<String> {
    list.split('|').map(str::to_owned).collect()
}

pub(crate) fn lower(list: Vec<String>) -> Vec<String> {
    list.into_iter().map(|s| s.to_ascii_lowercase()).collect()
}

pub(crate) fn upper(list: Vec<String>) -> Vec<String> {
    list.into_iter().map(|s| s.to_ascii_uppercase()).collect()
}

/// The host without its port, as BFE cuts it: at the first ':'.
fn without_port(host: &str) -> &str {
    host.split_once(':').map_or(host, |(h, _)| h)
}

/// The query's `(key, value)` pairs as Go's `url.ParseQuery` yields them: split on
/// '&', pairs holding ';' or a bad escape skipped, keys and values unescaped ('+' is a
/// space). Unescaping allocates only for a pair that holds '%' or '+'.
fn query_pairs(query: Option<&str>) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((unescape(key)?, unescape(value)?))
        })
}

fn unescape(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains(['%', '+']) {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
}

/// The value of the first cookie named `key` in the `cookie` headers, its surrounding
/// double quotes removed (as Go's `readCookies` does).
fn cookie<'a, F: Facts + ?Sized>(facts: &'a F, key: &str) -> Option<&'a str> {
    facts.header_values("cookie").find_map(|line| {
        line.split(';').find_map(|part| {
            let part = part.trim_matches([' ', '\t']);
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            if name != key {
                return None;
            }
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some(unquoted)
        })
    })
}

#[cfg(test)]
mod tests;
