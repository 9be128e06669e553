//! Response compression (a product's `compress`; BFE's mod_compress, nginx's gzip):
//! whether a response is compressed and how ([`Compress::plan`]), the head changes
//! that go with it ([`Plan::apply`]), and the streaming encoder (`encoder`).
//!
//! It runs in `Life::send`, after ReadResponse and ResponseBody (and the gRPC
//! conversion), before the first byte goes out, so plugins see the response as the
//! backend sent it and RequestFinish sees it as the client got it.

mod encoder;

pub use encoder::{Compressed, Encoder};

use http::header::{
    HeaderValue, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE,
    CONTENT_TYPE, ETAG, VARY,
};
use http::{HeaderMap, Method, StatusCode};

use crate::config::{Algorithm, CompressConfig};
use crate::header_list;

/// A product's compression settings, checked at load.
#[derive(Clone, Debug)]
pub struct Compress {
    /// Media types compressed: exact (`text/html`) or a whole type (`text/*`),
    /// lowercase.
    types: Vec<String>,
    /// Bodies known to be shorter are sent as they are.
    min_bytes: u64,
    /// The algorithms offered, in the product's order of preference.
    algorithms: Vec<Algorithm>,
}

/// What [`Compress::plan`] decided for one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Not a candidate (wrong type, too short, already encoded, …): nothing changes.
    Untouched,
    /// A candidate, but the client takes none of the algorithms: sent as it is, with
    /// `Vary: Accept-Encoding` (the choice depended on the request).
    Vary,
    /// Compressed with this algorithm.
    Encode(Algorithm),
}

impl Compress {
    /// The settings of `config`.
    pub fn new(config: &CompressConfig) -> Compress {
        Compress {
            types: config
                .types
                .iter()
                .map(|t| t.to_ascii_lowercase())
                .collect(),
            min_bytes: config.min_bytes,
            algorithms: config.algorithms.clone(),
        }
    }

    /// Whether and how to compress a response with `status` and `headers` (and a body
    /// of `length`, if known) to a request with `method` and `request` headers.
    /// Never: HEAD, 1xx/204/304, partial content, a response already encoded or
    /// saying `Cache-Control: no-transform`, gRPC (`is_grpc`), a type not listed, a
    /// body known to be shorter than `min_bytes`.
    pub fn plan(
        &self,
        method: &Method,
        request: &HeaderMap,
        status: StatusCode,
        headers: &HeaderMap,
        length: Option<u64>,
        is_grpc: bool,
    ) -> Plan {
        let no_body = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let partial = status == StatusCode::PARTIAL_CONTENT || headers.contains_key(CONTENT_RANGE);
        let length = length.or_else(|| {
            let value = headers.get(CONTENT_LENGTH)?;
            value.to_str().ok()?.trim().parse().ok()
        });
        if is_grpc
            || method == Method::HEAD
            || no_body
            || partial
            || headers.contains_key(CONTENT_ENCODING)
            || has_token(headers, &CACHE_CONTROL, "no-transform")
            || length.is_some_and(|n| n < self.min_bytes)
            || !self.takes(headers)
        {
            return Plan::Untouched;
        }
        match choose(request, &self.algorithms) {
            Some(algorithm) => Plan::Encode(algorithm),
            None => Plan::Vary,
        }
    }

    /// Whether the response's media type is listed.
    fn takes(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let media = value.split(';').next().unwrap_or("").trim();
        let Some((kind, _)) = media.split_once('/') else {
            return false;
        };
        self.types
            .iter()
            .any(|listed| match listed.strip_suffix("/*") {
                Some(whole) => kind.eq_ignore_ascii_case(whole),
                None => media.eq_ignore_ascii_case(listed),
            })
    }
}

impl Plan {
    /// The head changes that go with the plan: `Vary: Accept-Encoding` for any
    /// candidate; when encoding, `Content-Encoding` set, `Content-Length` removed
    /// (the length changes; the body goes chunked, or by frames on HTTP/2), and a
    /// strong `ETag` made weak (the bytes differ; nginx does the same).
    pub fn apply(self, headers: &mut HeaderMap) {
        let algorithm = match self {
            Plan::Untouched => return,
            Plan::Vary => {
                add_vary(headers);
                return;
            }
            Plan::Encode(algorithm) => algorithm,
        };
        add_vary(headers);
        headers.insert(
            CONTENT_ENCODING,
            HeaderValue::from_static(algorithm.token()),
        );
        headers.remove(CONTENT_LENGTH);
        let weak = headers
            .get(ETAG)
            .and_then(|etag| etag.to_str().ok())
            .filter(|etag| etag.starts_with('"'))
            .and_then(|etag| HeaderValue::from_str(&format!("W/{etag}")).ok());
        if let Some(weak) = weak {
            headers.insert(ETAG, weak);
        }
    }
}

/// Adds `Accept-Encoding` to `Vary` unless it is there already (or `Vary: *`).
fn add_vary(headers: &mut HeaderMap) {
    let present = header_list::items(headers, VARY)
        .any(|token| token == "*" || token.eq_ignore_ascii_case("accept-encoding"));
    if !present {
        headers.append(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

/// Whether a comma-separated header has `token` (any case, parameters ignored).
fn has_token(headers: &HeaderMap, name: &http::HeaderName, token: &str) -> bool {
    header_list::items(headers, name).any(|item| {
        let item = item.split('=').next().unwrap_or("").trim();
        item.eq_ignore_ascii_case(token)
    })
}

/// The algorithm a request's `Accept-Encoding` prefers among `offered` (RFC 9110
/// §12.5.3): the highest q-value wins, ties go to the earlier in `offered`; `*`
/// stands for every coding not named; `q=0` refuses. `None` when the header is
/// absent or accepts none of them (the response then goes as it is: `identity;q=0`
/// is not worth a 406).
pub fn choose(request: &HeaderMap, offered: &[Algorithm]) -> Option<Algorithm> {
    let mut named: Vec<(String, u16)> = Vec::new();
    let mut any = false;
    for value in request.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        any = true;
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if coding.is_empty() {
                continue;
            }
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .find_map(qvalue)
                .unwrap_or(1000);
            named.push((coding, q));
        }
    }
    if !any {
        return None;
    }
    let star = named.iter().find(|(c, _)| c == "*").map(|&(_, q)| q);
    let q_of = |algorithm: Algorithm| {
        let token = algorithm.token();
        // x-gzip is gzip (RFC 9110 §8.4.1.3).
        named
            .iter()
            .find(|(c, _)| c == token || (algorithm == Algorithm::Gzip && c == "x-gzip"))
            .map(|&(_, q)| q)
            .or(star)
            .unwrap_or(0)
    };
    let mut best: Option<(Algorithm, u16)> = None;
    for &algorithm in offered {
        let q = q_of(algorithm);
        if q > 0 && best.is_none_or(|(_, top)| q > top) {
            best = Some((algorithm, q));
        }
    }
    best.map(|(algorithm, _)| algorithm)
}

/// A q-value in thousandths (`0.5` → 500), `None` if malformed.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(millis),
        "1" if millis == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
