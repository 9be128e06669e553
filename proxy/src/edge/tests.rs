use super::*;

fn head(version: Version, uri: &str, hosts: &[&str]) -> Parts {
    let mut builder = http::Request::builder().version(version).uri(uri);
    for host in hosts {
        builder = builder.header(HOST, *host);
    }
    builder.body(()).unwrap().into_parts().0
}

fn edge() -> Edge {
    Edge::new(&crate::config::ServerConfig::default())
}

/// The routing host and the head after `admit`.
fn admit_one(version: Version, uri: &str, hosts: &[&str]) -> Result<(String, Parts), Refusal> {
    let mut head = head(version, uri, hosts);
    admit(&mut head, &edge())?;
    let host = head
        .headers
        .get(HOST)
        .map_or(String::new(), |h| route_host(h.to_str().unwrap()));
    Ok((host, head))
}

const BAD: Refusal = Refusal::Answer(ProxyError::BadRequest);

#[test]
fn absolute_form_authority_wins_over_host() {
    let (host, head) = admit_one(
        Version::HTTP_11,
        "http://Public.Example:8080/secret?q=1",
        &["internal.example"],
    )
    .unwrap();
    assert_eq!(host, "public.example");
    assert_eq!(head.headers.get_all(HOST).iter().count(), 1);
    assert_eq!(head.headers[HOST], "Public.Example:8080");
    assert_eq!(head.uri, "/secret?q=1");
}

#[test]
fn http11_needs_exactly_one_valid_host() {
    assert_eq!(admit_one(Version::HTTP_11, "/", &[]).unwrap_err(), BAD);
    assert_eq!(
        admit_one(Version::HTTP_11, "/", &["a", "a"]).unwrap_err(),
        BAD
    );
    for bad in ["", "a b", "a/b", "u@h", "a:xx"] {
        assert_eq!(
            admit_one(Version::HTTP_11, "/", &[bad]).unwrap_err(),
            BAD,
            "{bad:?}"
        );
    }
    let (host, _) = admit_one(Version::HTTP_11, "/", &["Internal.Example."]).unwrap();
    assert_eq!(host, "internal.example");
}

#[test]
fn http10_may_omit_host() {
    let (host, head) = admit_one(Version::HTTP_10, "/x", &[]).unwrap();
    assert_eq!(host, "");
    assert!(!head.headers.contains_key(HOST));
}

#[test]
fn http2_authority_and_host_must_agree() {
    let (host, head) = admit_one(Version::HTTP_2, "https://a.example/x", &[]).unwrap();
    assert_eq!(host, "a.example");
    assert_eq!(head.headers[HOST], "a.example");
    assert_eq!(head.uri, "/x");
    assert!(admit_one(Version::HTTP_2, "https://a.example/x", &["A.example"]).is_ok());
    assert_eq!(
        admit_one(Version::HTTP_2, "https://a.example/x", &["b.example"]).unwrap_err(),
        Refusal::Malformed
    );
    assert_eq!(admit_one(Version::HTTP_2, "/x", &[]).unwrap_err(), BAD);
    let (host, _) = admit_one(Version::HTTP_2, "/x", &["b.example"]).unwrap();
    assert_eq!(host, "b.example");
}

#[test]
fn connect_is_not_allowed() {
    let mut head = head(Version::HTTP_11, "example.com:443", &["example.com:443"]);
    head.method = Method::CONNECT;
    assert_eq!(
        admit(&mut head, &edge()).unwrap_err(),
        Refusal::Answer(ProxyError::MethodNotAllowed)
    );
}

#[test]
fn paths_are_normalised_and_queries_kept() {
    let (_, normalised) = admit_one(Version::HTTP_11, "/x/../%61dmin//a?q=%2e%2e", &["h"]).unwrap();
    assert_eq!(normalised.uri, "/admin/a?q=%2e%2e");
    assert_eq!(
        admit_one(Version::HTTP_11, "/../x", &["h"]).unwrap_err(),
        BAD
    );
    assert_eq!(admit_one(Version::HTTP_11, "*", &["h"]).unwrap_err(), BAD);
    let mut options = head(Version::HTTP_11, "*", &["h"]);
    options.method = Method::OPTIONS;
    admit(&mut options, &edge()).unwrap();
    assert_eq!(options.uri, "*");
    for (target, want) in [("http://h/", "/"), ("http://h/x?y", "/x?y")] {
        let mut options = head(Version::HTTP_11, target, &[]);
        options.method = Method::OPTIONS;
        admit(&mut options, &edge()).unwrap();
        assert_eq!(options.uri, want, "{target}");
    }
}

#[test]
fn oversized_heads_are_414_or_431() {
    let long = format!("/{}", "a".repeat(MAX_TARGET_BYTES));
    assert_eq!(
        admit_one(Version::HTTP_11, &long, &["h"]).unwrap_err(),
        Refusal::Answer(ProxyError::UriTooLong)
    );
    let mut head = head(Version::HTTP_11, "/", &["h"]);
    head.headers
        .insert("x-big", "v".repeat(MAX_FIELD_BYTES).parse().unwrap());
    assert_eq!(
        admit(&mut head, &edge()).unwrap_err(),
        Refusal::Answer(ProxyError::HeadersTooLarge)
    );
    let mut head = self::head(Version::HTTP_11, "/", &["h"]);
    for i in 0..8 {
        head.headers.insert(
            http::HeaderName::from_bytes(format!("x-{i}").as_bytes()).unwrap(),
            "v".repeat(MAX_FIELD_BYTES / 2).parse().unwrap(),
        );
    }
    assert_eq!(
        admit(&mut head, &edge()).unwrap_err(),
        Refusal::Answer(ProxyError::HeadersTooLarge)
    );
    let fits = format!("/{}", "a".repeat(MAX_TARGET_BYTES - 1));
    assert!(admit_one(Version::HTTP_11, &fits, &["h"]).is_ok());
}

#[test]
fn unknown_codings_and_expectations_are_refused() {
    let mut gzip = head(Version::HTTP_11, "/", &["h"]);
    gzip.headers
        .insert(TRANSFER_ENCODING, "gzip, chunked".parse().unwrap());
    assert_eq!(
        admit(&mut gzip, &edge()).unwrap_err(),
        Refusal::Answer(ProxyError::NotImplemented)
    );
    let mut chunked = head(Version::HTTP_11, "/", &["h"]);
    chunked
        .headers
        .insert(TRANSFER_ENCODING, "Chunked".parse().unwrap());
    assert!(admit(&mut chunked, &edge()).is_ok());
    let mut expect = head(Version::HTTP_11, "/", &["h"]);
    expect.headers.insert(EXPECT, "x-custom".parse().unwrap());
    assert_eq!(
        admit(&mut expect, &edge()).unwrap_err(),
        Refusal::Answer(ProxyError::ExpectationFailed)
    );
    let mut expect = head(Version::HTTP_11, "/", &["h"]);
    expect
        .headers
        .insert(EXPECT, "100-Continue".parse().unwrap());
    assert!(admit(&mut expect, &edge()).is_ok());
}
