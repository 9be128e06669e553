use hookgate_plugin_kit::testing::config_error;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hookgate_plugin_api::testing::{FakeRequest, FakeResponse, FakeSession, TestPlugin};
use hookgate_plugin_api::{Action, Outcome, Point};
use serde_json::Value;

use super::init;

/// A log file in a temp dir and a plugin writing to it.
struct Log {
    dir: tempfile::TempDir,
}

impl Log {
    fn new() -> Log {
        Log {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }

    fn plugin(&self, extra: &str) -> TestPlugin {
        let config = format!("path = {:?}\n{extra}", self.path().display().to_string());
        TestPlugin::init(init, &config).unwrap()
    }

    fn lines(&self) -> Vec<String> {
        read_lines(&self.path())
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines().map(str::to_owned).collect()
}

/// A proxied request that went through BeforeLocation, as the proxy would show it at
/// RequestFinish.
fn request(plugin: &TestPlugin) -> FakeRequest {
    let mut req = FakeRequest::get("/a?b=1")
        .header("x-request-id", "rid-1")
        .header("referer", "https://ref.example/")
        .header("user-agent", "ua/1");
    assert_eq!(plugin.before_location(&mut req), Ok(Outcome::GoOn));
    req.product("shop")
        .cluster("web")
        .backend("main", "10.0.0.1:80")
}

#[test]
fn a_request_line_in_the_combined_format() {
    let log = Log::new();
    let plugin = log.plugin("");
    for point in [Point::BeforeLocation, Point::RequestFinish, Point::Finish] {
        assert_eq!(plugin.handler_count(point), 1, "{point}");
    }
    let mut req = request(&plugin);
    // The start is the instance's typed state, not a string in the shared context.
    assert_eq!(req.context("access_log.start_us"), None);
    let mut resp = FakeResponse::new(200).header("content-length", "5");
    assert_eq!(
        plugin.request_finish(&mut req, Some(&mut resp)),
        Ok(Action::GoOn)
    );
    drop(plugin);

    let lines = log.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    // `[10/Oct/2000:13:55:36 +0000]`
    let (before, rest) = line.split_once(" +0000] ").expect("a CLF time");
    assert!(before.starts_with("192.0.2.1 - - ["), "{line}");
    assert_eq!(
        before.len(),
        "192.0.2.1 - - [10/Oct/2000:13:55:36".len(),
        "{line}"
    );
    let expected = "\"GET /a?b=1 HTTP/1.1\" 200 5 \"https://ref.example/\" \"ua/1\" \
                    request_id=\"rid-1\" product=\"shop\" cluster=\"web\" \
                    backend=\"10.0.0.1:80\" error=\"-\" session=1 duration_ms=";
    assert!(rest.starts_with(expected), "{line}");
    let ms: f64 = rest[expected.len()..].parse().expect("a duration");
    assert!((0.0..1000.0).contains(&ms), "{line}");
}

#[test]
fn missing_values_are_dashes_and_client_text_is_escaped() {
    let log = Log::new();
    let plugin = log.plugin("");
    // No BeforeLocation (an earlier plugin ended the request there), no response.
    let mut req = FakeRequest::get("/x")
        .header("user-agent", "evil\"\t\\ \"forged")
        .with_context("request_id", "from-context")
        .header("x-request-id", "from-header")
        .error_code("connect_failed");
    assert_eq!(plugin.request_finish(&mut req, None), Ok(Action::GoOn));
    drop(plugin);

    let lines = log.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    let expected = "\"GET /x HTTP/1.1\" - - \"-\" \"evil\\\"\\t\\\\ \\\"forged\" \
                    request_id=\"from-context\" product=\"-\" cluster=\"-\" backend=\"-\" \
                    error=\"connect_failed\" session=1 duration_ms=-";
    assert!(line.ends_with(expected), "{line}");
}

#[test]
fn a_connection_line_in_the_combined_format() {
    let log = Log::new();
    let plugin = log.plugin("");
    let mut session = FakeSession::new()
        .id(7)
        .tls("shop.example.com")
        .request_count(3);
    assert_eq!(plugin.finish(&mut session), Ok(Action::GoOn));
    let mut plain = FakeSession::new().id(8);
    assert_eq!(plugin.finish(&mut plain), Ok(Action::GoOn));
    drop(plugin);

    let lines = log.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("192.0.2.1:40000 - - ["),
        "{}",
        lines[0]
    );
    let expected = "] \"CONNECTION\" session=7 protocol=https tls=TLSv1.3 requests=3 duration_ms=";
    assert!(lines[0].contains(expected), "{}", lines[0]);
    let expected = "] \"CONNECTION\" session=8 protocol=http tls=- requests=0 duration_ms=";
    assert!(lines[1].contains(expected), "{}", lines[1]);
}

#[test]
fn json_lines() {
    let log = Log::new();
    let plugin = log.plugin("format = \"json\"");
    let mut req = request(&plugin);
    let mut resp = FakeResponse::new(404);
    plugin.request_finish(&mut req, Some(&mut resp)).unwrap();
    let mut session = FakeSession::new().id(3).request_count(1);
    plugin.finish(&mut session).unwrap();
    drop(plugin);

    let lines = log.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let request: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(request["type"], "request");
    assert_eq!(request["client"], "192.0.2.1");
    assert_eq!(request["method"], "GET");
    assert_eq!(request["uri"], "/a?b=1");
    assert_eq!(request["status"], 404);
    assert_eq!(request["bytes"], Value::Null);
    assert_eq!(request["request_id"], "rid-1");
    assert_eq!(request["product"], "shop");
    assert_eq!(request["backend"], "10.0.0.1:80");
    assert_eq!(request["error"], Value::Null);
    assert!(request["duration_ms"].is_f64(), "{request}");
    let time = request["time"].as_str().unwrap();
    assert!(time.ends_with('Z') && time.contains('T'), "{time}");

    let connection: Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(connection["type"], "connection");
    assert_eq!(connection["session"], 3);
    assert_eq!(connection["client"], "192.0.2.1:40000");
    assert_eq!(connection["protocol"], "http");
    assert_eq!(connection["tls_version"], Value::Null);
    assert_eq!(connection["requests"], 1);
}

#[test]
fn lines_are_flushed_every_interval() {
    let log = Log::new();
    let plugin = log.plugin("flush_interval_ms = 20");
    let mut session = FakeSession::new();
    plugin.finish(&mut session).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while log.lines().is_empty() {
        assert!(Instant::now() < deadline, "not flushed within 5 s");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(plugin);
    assert_eq!(log.lines().len(), 1);
}

#[test]
fn dropping_the_handlers_flushes_every_line() {
    let log = Log::new();
    // Appends to what is there.
    fs::write(log.path(), "earlier\n").unwrap();
    let plugin = log.plugin("flush_interval_ms = 600000");
    std::thread::scope(|scope| {
        for id in 0..4 {
            let plugin = &plugin;
            scope.spawn(move || {
                for _ in 0..500 {
                    let mut session = FakeSession::new().id(id);
                    plugin.finish(&mut session).unwrap();
                }
            });
        }
    });
    drop(plugin);
    let lines = log.lines();
    assert_eq!(lines.len(), 2001);
    assert_eq!(lines[0], "earlier");
    assert!(lines[1..].iter().all(|l| l.contains("\"CONNECTION\"")));
}

#[test]
fn config_errors_name_the_key() {
    let log = Log::new();
    let error = |config: &str| config_error(init, config);
    let path = format!("path = {:?}\n", log.path().display().to_string());

    let err = error("");
    assert!(err.starts_with("access-log plugin config: "), "{err}");
    assert!(err.contains("missing field `path`"), "{err}");
    let err = error(&format!("{path}fromat = \"json\"\n"));
    assert!(err.contains("unknown field `fromat`"), "{err}");
    let err = error(&format!("{path}format = \"xml\"\n"));
    assert!(err.contains("format"), "{err}");
    assert!(err.contains("unknown variant `xml`"), "{err}");
    let err = error(&format!("{path}flush_interval_ms = 0\n"));
    assert!(err.contains("flush_interval_ms: "), "{err}");

    let dir = log.dir.path().display().to_string();
    let err = error(&format!("path = \"{dir}/missing/access.log\"\n"));
    assert!(err.contains("path: cannot append to "), "{err}");
    let err = error(&format!("path = {dir:?}\n"));
    assert!(err.contains("path: cannot append to "), "{err}");
}
