use hookgate_plugin_kit::testing::config_error;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
use hookgate_plugin_api::{Outcome, Point, Reply};
use httpdate::HttpDate;

use super::init;

/// A site: `root/` with files, a directory with an index, one without, and symlinks
/// inside and outside; `outside/secret.txt` next to it.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("docs")).unwrap();
        fs::create_dir_all(root.join("empty")).unwrap();
        fs::create_dir_all(dir.path().join("outside")).unwrap();
        fs::write(root.join("hello.txt"), "hello\n").unwrap();
        fs::write(root.join("style.css"), "body {}\n").unwrap();
        fs::write(root.join("my file.txt"), "spaced\n").unwrap();
        fs::write(root.join("docs/index.html"), "<h1>docs</h1>\n").unwrap();
        fs::write(dir.path().join("outside/secret.txt"), "secret\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside/secret.txt"), root.join("escape"))
            .unwrap();
        std::os::unix::fs::symlink(root.join("hello.txt"), root.join("alias.txt")).unwrap();
        Fixture { dir }
    }

    fn root(&self) -> String {
        self.dir.path().join("root").display().to_string()
    }

    fn plugin(&self, extra: &str) -> TestPlugin {
        let config = format!("[products.shop]\nroot = {:?}\n{extra}", self.root());
        TestPlugin::init(init, &config).unwrap()
    }
}

fn get(plugin: &TestPlugin, uri: &str) -> Reply {
    send(plugin, FakeRequest::get(uri))
}

fn send(plugin: &TestPlugin, req: FakeRequest) -> Reply {
    match plugin.found_product(&mut req.product("shop")) {
        Ok(Outcome::Respond(reply)) => reply,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn last_modified(path: &Path) -> HttpDate {
    HttpDate::from(fs::metadata(path).unwrap().modified().unwrap())
}

#[test]
fn serves_a_file_with_its_type_length_and_date() {
    let site = Fixture::new();
    let plugin = site.plugin("");
    assert_eq!(plugin.handler_count(Point::FoundProduct), 1);
    let reply = get(&plugin, "/hello.txt");
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.header_value("content-type"), Some("text/plain"));
    assert_eq!(reply.header_value("content-length"), Some("6"));
    let date = last_modified(&site.dir.path().join("root/hello.txt")).to_string();
    assert_eq!(reply.header_value("last-modified"), Some(date.as_str()));
    assert_eq!(reply.body_bytes(), b"hello\n");

    let reply = get(&plugin, "/style.css?v=2");
    assert_eq!(reply.header_value("content-type"), Some("text/css"));
    let reply = get(&plugin, "/my%20file.txt");
    assert_eq!(reply.body_bytes(), b"spaced\n");
    // A symlink that stays inside the root is followed.
    assert_eq!(get(&plugin, "/alias.txt").body_bytes(), b"hello\n");
}

#[test]
fn if_modified_since_gives_304_unless_the_file_is_newer() {
    let site = Fixture::new();
    let plugin = site.plugin("");
    let modified = last_modified(&site.dir.path().join("root/hello.txt"));
    let date = modified.to_string();
    let reply = send(
        &plugin,
        FakeRequest::get("/hello.txt").header("if-modified-since", &date),
    );
    assert_eq!(reply.status(), 304);
    assert_eq!(reply.header_value("last-modified"), Some(date.as_str()));
    assert!(reply.body_bytes().is_empty());

    let earlier = HttpDate::from(SystemTime::from(modified) - Duration::from_secs(60));
    let req = FakeRequest::get("/hello.txt").header("if-modified-since", &earlier.to_string());
    assert_eq!(send(&plugin, req).status(), 200);
    let req = FakeRequest::get("/hello.txt").header("if-modified-since", "yesterday");
    assert_eq!(send(&plugin, req).status(), 200);
    // If-None-Match wins over If-Modified-Since, and this plugin has no ETags.
    let req = FakeRequest::get("/hello.txt")
        .header("if-modified-since", &date)
        .header("if-none-match", "\"x\"");
    assert_eq!(send(&plugin, req).status(), 200);
}

#[test]
fn head_has_the_headers_and_no_body() {
    let site = Fixture::new();
    let plugin = site.plugin("");
    let reply = send(&plugin, FakeRequest::new("HEAD", "/hello.txt"));
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.header_value("content-type"), Some("text/plain"));
    assert_eq!(reply.header_value("content-length"), Some("6"));
    assert!(reply.header_value("last-modified").is_some());
    assert!(reply.body_bytes().is_empty());
}

#[test]
fn missing_files_are_404_and_other_methods_405() {
    let site = Fixture::new();
    let plugin = site.plugin("");
    assert_eq!(get(&plugin, "/nope.txt").status(), 404);
    assert_eq!(get(&plugin, "/hello.txt/").status(), 404);
    assert_eq!(get(&plugin, "/hello.txt/x").status(), 404);
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let reply = send(&plugin, FakeRequest::new(method, "/hello.txt"));
        assert_eq!(reply.status(), 405, "{method}");
        assert_eq!(reply.header_value("allow"), Some("GET, HEAD"));
    }
}

#[test]
fn directories_serve_their_index() {
    let site = Fixture::new();
    let plugin = site.plugin("");
    let reply = get(&plugin, "/docs/");
    assert_eq!(reply.header_value("content-type"), Some("text/html"));
    assert_eq!(reply.body_bytes(), b"<h1>docs</h1>\n");
    assert_eq!(get(&plugin, "/empty/").status(), 404);
    // No index at the root, and no listing.
    assert_eq!(get(&plugin, "/").status(), 404);

    let mut req = FakeRequest::get("/docs?page=2").product("shop");
    let slash = hookgate_plugin_api::Redirect::to("/docs/?page=2").status(301);
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::Redirect(slash)));
    assert_eq!(req.redirect_url(), Some("/docs/?page=2"));
    assert_eq!(req.redirect_code(), 301);

    let plugin = site.plugin("index = \"hello.txt\"");
    assert_eq!(get(&plugin, "/").body_bytes(), b"hello\n");
}

#[test]
fn paths_never_leave_the_root() {
    let site = Fixture::new();
    let plugin = site.plugin("");
    for uri in [
        "/../outside/secret.txt",
        "/docs/../../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/..%2Foutside%2Fsecret.txt",
        "/docs/..",
        "/a%00b",
        "/%ff",
    ] {
        assert_eq!(get(&plugin, uri).status(), 400, "{uri}");
    }
    // A symlink to a file outside the root.
    let reply = get(&plugin, "/escape");
    assert_eq!(reply.status(), 403);
    assert!(!reply.body_bytes().starts_with(b"secret"));
}

#[test]
fn only_paths_under_the_prefix_are_served() {
    let site = Fixture::new();
    let plugin = site.plugin("prefix = \"/static/\"");
    assert_eq!(get(&plugin, "/static/hello.txt").body_bytes(), b"hello\n");
    for uri in ["/hello.txt", "/static", "/staticx/hello.txt"] {
        let mut req = FakeRequest::get(uri).product("shop");
        assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn), "{uri}");
    }
    let mut req = FakeRequest::new("POST", "/api").product("shop");
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn));
}

#[test]
fn sites_are_chosen_by_product() {
    let site = Fixture::new();
    let plugin = site.plugin("");
    let mut req = FakeRequest::get("/hello.txt").product("other");
    assert_eq!(plugin.found_product(&mut req), Ok(Outcome::GoOn));

    // [global] sets the defaults, and serves products without a section.
    let root = site.root();
    let config = format!(
        "[global]\nroot = {root:?}\nprefix = \"/files/\"\n\
         [products.shop]\nprefix = \"/\"\n\
         [products.docs]\nroot = \"{root}/docs\"\n"
    );
    let plugin = TestPlugin::init(init, &config).unwrap();
    assert_eq!(get(&plugin, "/hello.txt").status(), 200);
    let serve = |product: &str, uri: &str| {
        let mut req = FakeRequest::get(uri).product(product);
        match plugin.found_product(&mut req) {
            Ok(Outcome::Respond(reply)) => reply.body_bytes().to_vec(),
            other => panic!("{product} {uri}: {other:?}"),
        }
    };
    assert_eq!(serve("other", "/files/hello.txt"), b"hello\n");
    assert_eq!(serve("docs", "/files/index.html"), b"<h1>docs</h1>\n");
}

#[test]
fn config_errors_name_the_key() {
    let site = Fixture::new();
    let root = site.root();
    let error = |config: &str| config_error(init, config);

    let err = error("[products.shop]\nrot = \"/srv\"\n");
    assert!(err.starts_with("static plugin config: "), "{err}");
    assert!(err.contains("unknown field `rot`"), "{err}");
    let err = error("[global]\nroot = 5\n");
    assert!(err.contains("root"), "{err}");
    let err = error("root = \"/srv\"\n");
    assert!(err.contains("unknown field `root`"), "{err}");

    let err = error(&format!("[products.shop]\nroot = \"{root}/hello.txt\"\n"));
    assert!(err.contains("products.shop.root: "), "{err}");
    assert!(err.contains("is not a directory"), "{err}");
    let err = error(&format!("[products.shop]\nroot = \"{root}/nope\"\n"));
    assert!(err.contains("products.shop.root: "), "{err}");
    let err = error("[global]\nroot = \"/nonexistent-hookgate\"\n");
    assert!(err.contains("global.root: "), "{err}");
    let err = error("[products.shop]\nprefix = \"/static/\"\n");
    assert!(err.contains("products.shop.root: missing"), "{err}");

    let err = error(&format!(
        "[products.shop]\nroot = {root:?}\nprefix = \"static\"\n"
    ));
    assert!(err.contains("products.shop.prefix: "), "{err}");
    let err = error(&format!(
        "[global]\nprefix = \"/static\"\n[products.shop]\nroot = {root:?}\n"
    ));
    assert!(err.contains("global.prefix: "), "{err}");
    let err = error(&format!(
        "[products.shop]\nroot = {root:?}\nindex = \"../x\"\n"
    ));
    assert!(err.contains("products.shop.index: "), "{err}");
}
