//! Rewriting heads on their way through, both ways: the request a backend receives
//! (hop-by-hop headers out, `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Real-IP`
//! in, Host kept), hop-by-hop headers out of the response; and the client IP behind
//! trusted proxies.

use std::net::{IpAddr, SocketAddr};

use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::{Request, Uri, Version};
use ipnet::IpNet;

use crate::request::RequestState;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const HTTP2_SETTINGS: HeaderName = HeaderName::from_static("http2-settings");

/// The client's IP: the peer, unless the peer is a trusted proxy, in which case the
/// rightmost `X-Forwarded-For` address that is not itself trusted.
pub(crate) fn client_ip(headers: &HeaderMap, peer: IpAddr, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if trusted.is_empty() || !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .rev()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.rsplit(','));
    for hop in hops {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => return client,
        }
    }
    client
}

/// Whether `name` is hop-by-hop in every message (RFC 9110 §7.6.1, plus the
/// non-standard `Keep-Alive` and `Proxy-Connection`, and `HTTP2-Settings` of an h2c
/// upgrade, which is never forwarded).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == CONNECTION
        || name == UPGRADE
        || name == TE
        || name == TRAILER
        || name == TRANSFER_ENCODING
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
        || name == HTTP2_SETTINGS
}

/// Removes hop-by-hop headers: the fixed list and any named in `Connection`. With
/// `keep_upgrade`, `Upgrade` and `Connection: upgrade` stay (WebSocket handshakes).
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Internal: most messages carry none; one pass of cheap name comparisons (standard
    // names compare as enum tags) spares the hashed removals below.
    if !keep_upgrade && !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .filter(|name| !(keep_upgrade && name == UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        KEEP_ALIVE,
        PROXY_CONNECTION,
        HTTP2_SETTINGS,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
    ] {
        headers.remove(name);
    }
    if keep_upgrade {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(CONNECTION);
        headers.remove(UPGRADE);
    }
}

/// The text form of an IP as a header value.
pub(crate) fn ip_value(ip: IpAddr) -> HeaderValue {
    // An IP's text is always a valid header value; the fallback is never used.
    HeaderValue::from_str(&ip.to_string()).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// The request to send upstream for `request`: origin-form target, HTTP/1.1, Host kept
/// (the request's one authority, see [`admit`](crate::edge::admit); an HTTP/1.0
/// request without one gets the backend's address), hop-by-hop headers removed,
/// forwarding headers set. `peer` is the socket peer's IP as a header value (made once
/// per connection).
pub(crate) fn upstream_request<B>(
    request: &RequestState,
    peer: &HeaderValue,
    is_tls: bool,
    upgrade: bool,
    backend: SocketAddr,
    body: B,
) -> Request<B> {
    let head = &request.head;
    let mut headers = head.headers.clone();
    remove_hop_by_hop(&mut headers, upgrade);
    if !headers.contains_key(HOST) {
        headers.insert(HOST, ip_value_port(backend));
    }
    let forwarded_for = match headers.get(X_FORWARDED_FOR) {
        Some(earlier) => {
            let mut joined = Vec::with_capacity(earlier.len() + 2 + peer.len());
            joined.extend_from_slice(earlier.as_bytes());
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(peer.as_bytes());
            HeaderValue::from_bytes(&joined).unwrap_or_else(|_| peer.clone())
        }
        None => peer.clone(),
    };
    headers.insert(X_FORWARDED_FOR, forwarded_for);
    let real_ip = if request.client_ip_is_peer {
        peer.clone()
    } else {
        ip_value(request.client_ip)
    };
    headers.insert(X_REAL_IP, real_ip);
    let proto = if is_tls { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));

    let mut upstream = Request::new(body);
    *upstream.method_mut() = head.method.clone();
    *upstream.uri_mut() = origin_form(&head.uri);
    *upstream.version_mut() = Version::HTTP_11;
    *upstream.headers_mut() = headers;
    upstream
}

/// `ip:port` as a header value.
fn ip_value_port(addr: SocketAddr) -> HeaderValue {
    // An address's text is always a valid header value; the fallback is never used.
    HeaderValue::from_str(&addr.to_string()).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// The request target in origin form (`/path?query`), reusing the URI's bytes.
fn origin_form(uri: &Uri) -> Uri {
    if uri.scheme().is_none() && uri.authority().is_none() {
        return uri.clone();
    }
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(
        uri.path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    Uri::from_parts(parts).unwrap_or_else(|_| Uri::from_static("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn xff(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, value.parse().unwrap());
        h
    }

    #[test]
    fn client_ip_only_believes_trusted_peers() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let headers = xff("203.0.113.9, 10.0.0.7");
        assert_eq!(client_ip(&headers, peer, &[]), peer);
        assert_eq!(client_ip(&headers, peer, &nets(&["192.168.0.0/16"])), peer);
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(&headers, peer, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(&xff("garbage"), peer, &trusted), peer);
        assert_eq!(client_ip(&HeaderMap::new(), peer, &trusted), peer);
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, "keep-alive, x-secret".parse().unwrap());
        h.insert("x-secret", "1".parse().unwrap());
        h.insert(KEEP_ALIVE, "timeout=5".parse().unwrap());
        h.insert(TRANSFER_ENCODING, "chunked".parse().unwrap());
        h.insert("x-kept", "1".parse().unwrap());
        remove_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn upstream_request_sets_forwarding_headers() {
        let (head, ()) = http::Request::get("/a?b=1")
            .header(HOST, "Shop.Example")
            .header(X_FORWARDED_FOR, "198.51.100.1")
            .header(CONNECTION, "close")
            .body(())
            .unwrap()
            .into_parts();
        let mut state = RequestState::new(head, "198.51.100.1".parse().unwrap());
        state.client_ip_is_peer = false;
        let peer = ip_value("127.0.0.1".parse().unwrap());
        let up = upstream_request(&state, &peer, true, false, backend(), ());
        assert_eq!(up.uri(), "/a?b=1");
        assert_eq!(up.version(), Version::HTTP_11);
        assert_eq!(up.headers()[HOST], "Shop.Example");
        assert_eq!(up.headers()[X_FORWARDED_FOR], "198.51.100.1, 127.0.0.1");
        assert_eq!(up.headers()[X_REAL_IP], "198.51.100.1");
        assert_eq!(up.headers()[X_FORWARDED_PROTO], "https");
        assert!(!up.headers().contains_key(CONNECTION));
    }

    fn backend() -> SocketAddr {
        "10.0.0.9:8080".parse().unwrap()
    }

    #[test]
    fn a_request_without_host_gets_the_backends_address() {
        let (head, ()) = http::Request::get("/x")
            .version(Version::HTTP_10)
            .body(())
            .unwrap()
            .into_parts();
        let state = RequestState::new(head, "127.0.0.1".parse().unwrap());
        let peer = ip_value("127.0.0.1".parse().unwrap());
        let up = upstream_request(&state, &peer, false, false, backend(), ());
        assert_eq!(up.headers()[HOST], "10.0.0.9:8080");
        assert_eq!(up.uri(), "/x");
    }
}
