//! Rewriting heads on their way through: hop-by-hop headers out, `X-Forwarded-For`,
//! `X-Forwarded-Proto` and `X-Real-IP` in, Host preserved; and the client IP behind
//! trusted proxies.

use std::net::IpAddr;

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

/// Removes hop-by-hop headers: the fixed list and any named in `Connection`. With
/// `keep_upgrade`, `Upgrade` and `Connection: upgrade` stay (WebSocket handshakes).
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
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
    for name in [KEEP_ALIVE, PROXY_CONNECTION, TE, TRAILER, TRANSFER_ENCODING] {
        headers.remove(name);
    }
    if keep_upgrade {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(CONNECTION);
        headers.remove(UPGRADE);
    }
}

/// The request to send upstream for `request`: origin-form target, HTTP/1.1, Host kept
/// (or taken from an HTTP/2 `:authority`), hop-by-hop headers removed, forwarding
/// headers set.
pub(crate) fn upstream_request<B>(
    request: &RequestState,
    peer: IpAddr,
    is_tls: bool,
    upgrade: bool,
    body: B,
) -> Request<B> {
    let head = &request.head;
    let target = head.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut headers = head.headers.clone();
    remove_hop_by_hop(&mut headers, upgrade);
    if !headers.contains_key(HOST) {
        if let Some(value) = head
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        {
            headers.insert(HOST, value);
        }
    }
    let peer_text = peer.to_string();
    let forwarded_for = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {peer_text}"),
        None => peer_text,
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
        headers.insert(X_FORWARDED_FOR, value);
    }
    if let Ok(value) = HeaderValue::from_str(&request.client_ip.to_string()) {
        headers.insert(X_REAL_IP, value);
    }
    let proto = if is_tls { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));

    let mut upstream = Request::new(body);
    *upstream.method_mut() = head.method.clone();
    *upstream.uri_mut() = target
        .parse::<Uri>()
        .unwrap_or_else(|_| Uri::from_static("/"));
    *upstream.version_mut() = Version::HTTP_11;
    *upstream.headers_mut() = headers;
    upstream
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
        let state = RequestState::new(head, "198.51.100.1".parse().unwrap());
        let up = upstream_request(&state, "127.0.0.1".parse().unwrap(), true, false, ());
        assert_eq!(up.uri(), "/a?b=1");
        assert_eq!(up.version(), Version::HTTP_11);
        assert_eq!(up.headers()[HOST], "Shop.Example");
        assert_eq!(up.headers()[X_FORWARDED_FOR], "198.51.100.1, 127.0.0.1");
        assert_eq!(up.headers()[X_REAL_IP], "198.51.100.1");
        assert_eq!(up.headers()[X_FORWARDED_PROTO], "https");
        assert!(!up.headers().contains_key(CONNECTION));
    }

    #[test]
    fn http2_authority_becomes_host() {
        let (head, ()) = http::Request::get("https://shop.example:8443/x")
            .version(Version::HTTP_2)
            .body(())
            .unwrap()
            .into_parts();
        let state = RequestState::new(head, "127.0.0.1".parse().unwrap());
        let up = upstream_request(&state, "127.0.0.1".parse().unwrap(), true, false, ());
        assert_eq!(up.headers()[HOST], "shop.example:8443");
        assert_eq!(up.uri(), "/x");
    }
}
