//! The choice of algorithm by `Accept-Encoding`, and when a response is compressed.

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};

use super::*;
use crate::config::{Algorithm, CompressConfig};

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

const BOTH: [Algorithm; 2] = [Algorithm::Br, Algorithm::Gzip];

fn pick(accept: &str) -> Option<Algorithm> {
    choose(&headers(&[("accept-encoding", accept)]), &BOTH)
}

#[test]
fn the_highest_q_wins_and_ties_go_to_the_products_order() {
    assert_eq!(pick("gzip, deflate, br"), Some(Algorithm::Br));
    assert_eq!(pick("gzip"), Some(Algorithm::Gzip));
    assert_eq!(pick("br;q=0.5, gzip;q=0.8"), Some(Algorithm::Gzip));
    assert_eq!(pick("BR;Q=1.0, gzip;q=1"), Some(Algorithm::Br));
    assert_eq!(pick("x-gzip"), Some(Algorithm::Gzip));
    assert_eq!(pick("deflate"), None);
    assert_eq!(pick("identity"), None);
    assert_eq!(
        choose(&HeaderMap::new(), &BOTH),
        None,
        "no header: as it is"
    );
    let gzip_first = [Algorithm::Gzip, Algorithm::Br];
    assert_eq!(
        choose(&headers(&[("accept-encoding", "br, gzip")]), &gzip_first),
        Some(Algorithm::Gzip)
    );
}

#[test]
fn star_and_zero_q_values_are_honoured() {
    assert_eq!(pick("*"), Some(Algorithm::Br));
    assert_eq!(pick("br;q=0, *"), Some(Algorithm::Gzip));
    assert_eq!(pick("*;q=0"), None);
    assert_eq!(
        pick("identity;q=0"),
        None,
        "nothing acceptable is offered: as it is"
    );
    assert_eq!(pick("gzip;q=0, br;q=0"), None);
    assert_eq!(pick("gzip;q=0.001"), Some(Algorithm::Gzip));
    assert_eq!(
        pick("gzip;q=1.5, br;q=x"),
        Some(Algorithm::Br),
        "bad q-values count as 1: a tie"
    );
}

#[test]
fn q_values_parse_as_rfc_9110_writes_them() {
    assert_eq!(qvalue("1"), Some(1000));
    assert_eq!(qvalue("1.000"), Some(1000));
    assert_eq!(qvalue("0.5"), Some(500));
    assert_eq!(qvalue("0.125"), Some(125));
    assert_eq!(qvalue("0"), Some(0));
    for bad in ["1.5", "0.1234", "2", "-1", "0.a", ""] {
        assert_eq!(qvalue(bad), None, "{bad}");
    }
}

fn settings() -> Compress {
    Compress::new(&CompressConfig {
        types: vec![
            "text/html".into(),
            "application/json".into(),
            "text/*".into(),
        ],
        min_bytes: 100,
        algorithms: BOTH.to_vec(),
    })
}

fn plan(method: Method, status: u16, response: &[(&str, &str)], length: Option<u64>) -> Plan {
    let request = headers(&[("accept-encoding", "gzip, br")]);
    let status = StatusCode::from_u16(status).unwrap();
    settings().plan(&method, &request, status, &headers(response), length, false)
}

#[test]
fn only_listed_types_long_enough_and_not_yet_encoded_are_compressed() {
    let html = [("content-type", "text/html; charset=utf-8")];
    assert_eq!(
        plan(Method::GET, 200, &html, Some(5000)),
        Plan::Encode(Algorithm::Br)
    );
    assert_eq!(
        plan(Method::GET, 200, &html, None),
        Plan::Encode(Algorithm::Br),
        "unknown length"
    );
    assert_eq!(
        plan(Method::GET, 200, &[("content-type", "text/css")], None),
        Plan::Encode(Algorithm::Br)
    );
    assert_eq!(
        plan(Method::GET, 404, &html, None),
        Plan::Encode(Algorithm::Br),
        "any status with a body"
    );
    let untouched = [
        plan(Method::GET, 200, &html, Some(99)),
        plan(
            Method::GET,
            200,
            &[("content-type", "text/html"), ("content-length", "20")],
            None,
        ),
        plan(Method::GET, 200, &[("content-type", "image/png")], None),
        plan(Method::GET, 200, &[], None),
        plan(Method::HEAD, 200, &html, None),
        plan(Method::GET, 204, &html, None),
        plan(Method::GET, 304, &html, None),
        plan(Method::GET, 101, &html, None),
        plan(Method::GET, 206, &html, None),
        plan(
            Method::GET,
            200,
            &[
                ("content-type", "text/html"),
                ("content-range", "bytes 0-9/99"),
            ],
            None,
        ),
        plan(
            Method::GET,
            200,
            &[("content-type", "text/html"), ("content-encoding", "gzip")],
            None,
        ),
        plan(
            Method::GET,
            200,
            &[
                ("content-type", "text/html"),
                ("cache-control", "public, no-transform"),
            ],
            None,
        ),
    ];
    for (i, plan) in untouched.iter().enumerate() {
        assert_eq!(*plan, Plan::Untouched, "case {i}");
    }
    let grpc = settings().plan(
        &Method::POST,
        &headers(&[("accept-encoding", "gzip")]),
        StatusCode::OK,
        &headers(&[("content-type", "text/plain")]),
        None,
        true,
    );
    assert_eq!(grpc, Plan::Untouched);
    let refusing = settings().plan(
        &Method::GET,
        &headers(&[("accept-encoding", "identity")]),
        StatusCode::OK,
        &headers(&html),
        None,
        false,
    );
    assert_eq!(refusing, Plan::Vary);
}

#[test]
fn encoding_changes_the_head_as_caches_need() {
    let mut head = headers(&[
        ("content-type", "text/html"),
        ("content-length", "5000"),
        ("etag", "\"abc\""),
        ("vary", "Origin"),
    ]);
    Plan::Encode(Algorithm::Gzip).apply(&mut head);
    assert_eq!(head.get("content-encoding").unwrap(), "gzip");
    assert!(head.get("content-length").is_none());
    assert_eq!(head.get("etag").unwrap(), "W/\"abc\"");
    let vary: Vec<_> = head
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(vary, ["Origin", "Accept-Encoding"]);

    let mut weak = headers(&[("etag", "W/\"abc\""), ("vary", "accept-encoding")]);
    Plan::Encode(Algorithm::Br).apply(&mut weak);
    assert_eq!(weak.get("etag").unwrap(), "W/\"abc\"");
    assert_eq!(weak.get_all("vary").iter().count(), 1);

    let mut as_is = headers(&[("content-length", "5000"), ("etag", "\"abc\"")]);
    Plan::Vary.apply(&mut as_is);
    assert_eq!(as_is.get("content-length").unwrap(), "5000");
    assert_eq!(as_is.get("etag").unwrap(), "\"abc\"");
    assert_eq!(as_is.get("vary").unwrap(), "Accept-Encoding");
}
