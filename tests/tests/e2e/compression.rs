//! Response compression (issue 18 §2: a product's `compress`), end to end against real
//! backends: clients asking for br, gzip, both and neither get what they asked for
//! (decoded here to the backend's bytes), with the head caches need; responses that
//! must not be compressed are left alone; a streamed response is compressed chunk by
//! chunk as it comes, over HTTP/1.1 and HTTP/2.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use hookgate_tests::{
    arg, free_addr, h2c_send, http1_send, pattern, Backend, Behaviour, Proxy, Req, Response,
};

/// The proxy with one product whose `compress` is `compress` (a TOML inline table),
/// every request to `backend`; its listen address.
fn start(dir: &Path, compress: &str, backend: &Backend) -> (Proxy, SocketAddr) {
    let listen = free_addr();
    let text = format!(
        r#"default_product = "web"
[server]
listen = ["{listen}"]
[products.web]
routes = [{{ cluster = "web" }}]
compress = {compress}
[clusters.web.subclusters.main]
weight = 1
backends = [{{ addr = "{backend}" }}]
"#,
        backend = backend.addr(),
    );
    let path = dir.join("hookgate.toml");
    fs::write(&path, text).expect("write the config");
    (Proxy::start(&["--config", arg(&path)]), listen)
}

fn get(path: &str, accept: Option<&str>) -> Req {
    let req = Req::get("web.example", path);
    match accept {
        Some(accept) => req.header("accept-encoding", accept),
        None => req,
    }
}

fn decode(response: &Response) -> Vec<u8> {
    let mut out = Vec::new();
    match response.header("content-encoding") {
        None => out.extend_from_slice(&response.body),
        Some("gzip") => {
            flate2::read::GzDecoder::new(&response.body[..])
                .read_to_end(&mut out)
                .expect("valid gzip");
        }
        Some("br") => {
            brotli::Decompressor::new(&response.body[..], 4096)
                .read_to_end(&mut out)
                .expect("valid brotli");
        }
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
    out
}

fn page() -> Vec<u8> {
    (0..400)
        .flat_map(|i| format!("<li>item {i}: the quick brown fox</li>\n").into_bytes())
        .collect()
}

#[test]
fn clients_get_br_gzip_or_the_body_as_is_as_they_ask() {
    let page = page();
    let backend = Backend::start(
        Behaviour::echo("b")
            .body(page.clone())
            .header("content-type", "text/html; charset=utf-8")
            .header("etag", "\"v1\""),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, addr) = start(dir.path(), "{}", &backend);
    let cases = [
        (Some("br"), Some("br")),
        (Some("gzip"), Some("gzip")),
        (Some("gzip, deflate, br"), Some("br")),
        (Some("br;q=0.5, gzip"), Some("gzip")),
        (Some("identity"), None),
        (None, None),
    ];
    for (accept, expected) in cases {
        for over in ["HTTP/1.1", "HTTP/2"] {
            let req = get("/", accept);
            let response = match over {
                "HTTP/1.1" => http1_send(addr, &req),
                _ => h2c_send(addr, &req),
            }
            .expect("answered");
            let what = format!("{over}, accept-encoding {accept:?}");
            assert_eq!(response.status, 200, "{what}");
            assert_eq!(response.header("content-encoding"), expected, "{what}");
            assert_eq!(decode(&response), page, "{what}");
            assert_eq!(response.header("vary"), Some("Accept-Encoding"), "{what}");
            if expected.is_some() {
                assert!(response.body.len() < page.len() / 4, "{what}: compressed");
                assert_eq!(response.header("etag"), Some("W/\"v1\""), "{what}");
                assert_eq!(response.header("content-length"), None, "{what}");
            } else {
                assert_eq!(response.header("etag"), Some("\"v1\""), "{what}");
                let length = page.len().to_string();
                if over == "HTTP/1.1" {
                    assert_eq!(
                        response.header("content-length"),
                        Some(length.as_str()),
                        "{what}"
                    );
                }
            }
        }
    }
}

#[test]
fn responses_that_must_not_change_are_sent_as_they_are() {
    let page = page();
    let html = |b: Behaviour| b.body(page.clone()).header("content-type", "text/html");
    let cases: [(&str, Behaviour); 5] = [
        (
            "a type not listed",
            Behaviour::echo("png")
                .body(page.clone())
                .header("content-type", "image/png"),
        ),
        (
            "shorter than min_bytes",
            Behaviour::echo("short")
                .body("<p>hi</p>")
                .header("content-type", "text/html"),
        ),
        (
            "encoded already",
            html(Behaviour::echo("enc")).header("content-encoding", "gzip"),
        ),
        (
            "no-transform",
            html(Behaviour::echo("nt")).header("cache-control", "public, no-transform"),
        ),
        (
            "a 204",
            Behaviour::echo("nc")
                .status(204)
                .header("content-type", "text/html"),
        ),
    ];
    for (what, behaviour) in cases {
        let backend = Backend::start(behaviour);
        let dir = tempfile::tempdir().expect("temp dir");
        let (_proxy, addr) = start(dir.path(), "{ min_bytes = 100 }", &backend);
        let response = http1_send(addr, &get("/", Some("gzip, br"))).expect("answered");
        let encoding = response.header("content-encoding");
        assert!(
            encoding.is_none() || encoding == Some("gzip") && what == "encoded already",
            "{what}: {encoding:?}"
        );
        if what == "encoded already" || what == "a type not listed" || what == "no-transform" {
            assert_eq!(response.body, page, "{what}: the backend's bytes");
        }
    }

    // HEAD: the head as for GET would be, but nothing compressed.
    let backend = Backend::start(html(Behaviour::echo("head")));
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, addr) = start(dir.path(), "{}", &backend);
    let head = Req::new("HEAD", "web.example", "/").header("accept-encoding", "gzip");
    let response = http1_send(addr, &head).expect("answered");
    assert_eq!(response.header("content-encoding"), None);
    assert!(response.body.is_empty());
}

/// Reads one HTTP/1.1 chunk (size line, data, CRLF).
fn read_chunk(reader: &mut BufReader<TcpStream>) -> Vec<u8> {
    let mut line = String::new();
    reader.read_line(&mut line).expect("chunk size line");
    let size = usize::from_str_radix(line.trim(), 16).expect("hex chunk size");
    let mut data = vec![0; size + 2];
    reader.read_exact(&mut data).expect("chunk data");
    data.truncate(size);
    data
}

/// The backend sends three chunks a second apart; the first compressed chunk the
/// client receives decodes to exactly the backend's first chunk: flushed as it came,
/// not held for the rest.
#[test]
fn a_streamed_response_is_compressed_and_flushed_chunk_by_chunk() {
    const CHUNK: usize = 4096;
    let backend = Backend::start(
        Behaviour::echo("slow")
            .stream_slowly(3 * CHUNK, CHUNK, Duration::from_millis(1000))
            .header("content-type", "text/plain"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let (_proxy, addr) = start(dir.path(), "{ types = [\"text/*\"] }", &backend);
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: web.example\r\nAccept-Encoding: gzip\r\n\r\n")
        .expect("send");
    let mut reader = BufReader::new(stream);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("head line");
        if line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_ascii_lowercase());
    }
    assert!(
        head.iter().any(|h| h == "content-encoding: gzip"),
        "{head:?}"
    );
    assert!(
        head.iter().any(|h| h == "transfer-encoding: chunked"),
        "{head:?}"
    );

    let first = read_chunk(&mut reader);
    let mut decoder = flate2::read::GzDecoder::new(&first[..]);
    let mut decoded = vec![0; CHUNK];
    decoder
        .read_exact(&mut decoded)
        .expect("the first chunk decodes on its own");
    assert_eq!(decoded, pattern(3 * CHUNK)[..CHUNK]);
    let mut more = [0u8; 1];
    assert!(
        !matches!(decoder.read(&mut more), Ok(1)),
        "the first chunk holds the backend's first chunk only"
    );

    // The rest: all chunks together decode to the whole body.
    let mut all = first;
    loop {
        let chunk = read_chunk(&mut reader);
        if chunk.is_empty() {
            break;
        }
        all.extend_from_slice(&chunk);
    }
    let mut whole = Vec::new();
    flate2::read::GzDecoder::new(&all[..])
        .read_to_end(&mut whole)
        .expect("valid gzip");
    assert_eq!(whole, pattern(3 * CHUNK));
}

#[test]
fn bad_compress_settings_are_refused_naming_the_key() {
    let backend = Backend::echo("b");
    for (compress, key) in [
        ("{ algorithms = [] }", "products.web.compress.algorithms"),
        (
            "{ algorithms = [\"gzip\", \"gzip\"] }",
            "products.web.compress.algorithms[1]",
        ),
        (
            "{ algorithms = [\"zstd\"] }",
            "products.web.compress.algorithms",
        ),
        ("{ types = [\"html\"] }", "products.web.compress.types[0]"),
        ("{ level = 9 }", "products.web.compress"),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("hookgate.toml");
        let text = format!(
            "default_product = \"web\"\n[server]\nlisten = [\"127.0.0.1:1\"]\n[products.web]\nroutes = [{{ cluster = \"web\" }}]\ncompress = {compress}\n[clusters.web.subclusters.main]\nweight = 1\nbackends = [{{ addr = \"{}\" }}]\n",
            backend.addr()
        );
        fs::write(&path, text).expect("write the config");
        let out = hookgate_tests::hookgate(&["check", "--config", arg(&path)]);
        assert!(!out.status.success(), "{compress}");
        assert!(out.stderr.contains(key), "{compress}: {}", out.stderr);
    }
}
