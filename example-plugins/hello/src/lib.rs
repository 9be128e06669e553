//! An example hookgate plugin that greets requests, with a handler at five callback
//! points. What the server does with each return value is the callback contract in
//! `hookgate-plugin-api`'s crate docs.
//!
//! Config (TOML; both keys optional, shown with their defaults):
//!
//! ```toml
//! greeting = "hello"  # sent upstream, and served at `/hello`
//! header = "x-hello"  # the request header that carries the greeting
//! ```

use hookgate_plugin_api::{export_plugin, Action, Outcome, Registry, Reply, ResponseOutcome};
use hookgate_plugin_kit::{from_toml, HeaderName};
use serde::Deserialize;

/// The config; the kit checks it and names a bad key.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Config {
    greeting: String,
    header: HeaderName,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            greeting: "hello".to_owned(),
            header: HeaderName::from_static("x-hello"),
        }
    }
}

/// Parses the config once and registers: Accept marks the session
/// (`hello.accepted = 1`); BeforeLocation sets `<header>: <greeting>` and the request
/// context `hello.greeted`, and answers `/hello` itself; ReadResponse adds
/// `x-hello-seen: 1`; RequestFinish and Finish go on.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let Config { greeting, header } =
        from_toml(config).map_err(|e| format!("hello plugin config: {e}"))?;
    if greeting.chars().any(char::is_control) {
        return Err("hello plugin config: greeting: has a control character".to_owned());
    }

    reg.on_accept(|session| {
        session.set_context("hello.accepted", "1");
        Action::GoOn
    });
    // Formatted once: `/hello` is answered with a copy.
    let page = format!("{greeting} from hookgate\n");
    reg.on_before_location(move |req| {
        req.set_header(header.as_str(), &greeting);
        req.set_context("hello.greeted", &greeting);
        if req.path() != "/hello" {
            return Outcome::GoOn;
        }
        let reply = Reply::new(200).header("content-type", "text/plain");
        Outcome::Respond(reply.body(page.as_bytes()))
    });
    reg.on_read_response(|_req, resp| {
        resp.set_header("x-hello-seen", "1");
        ResponseOutcome::GoOn
    });
    reg.on_request_finish(|_req, _resp| Action::GoOn);
    reg.on_finish(|_session| Action::GoOn);
    Ok(())
}

export_plugin!(
    init,
    points = [Accept, BeforeLocation, ReadResponse, RequestFinish, Finish]
);

#[cfg(test)]
mod tests {
    use hookgate_plugin_api::testing::{FakeRequest, FakeResponse, FakeSession, TestPlugin};
    use hookgate_plugin_api::{Action, Outcome, Point, Reply, ResponseOutcome};

    use super::init;

    #[test]
    fn default_config_greets_at_every_point() {
        let plugin = TestPlugin::init(init, "").unwrap();
        let registered = [
            Point::Accept,
            Point::BeforeLocation,
            Point::ReadResponse,
            Point::RequestFinish,
            Point::Finish,
        ];
        for point in Point::ALL {
            let expected = usize::from(registered.contains(&point));
            assert_eq!(plugin.handler_count(point), expected, "{point}");
        }

        let mut session = FakeSession::new();
        assert_eq!(plugin.accept(&mut session), Ok(Action::GoOn));
        assert_eq!(session.context("hello.accepted"), Some("1"));

        let mut req = FakeRequest::get("/");
        assert_eq!(plugin.before_location(&mut req), Ok(Outcome::GoOn));
        assert_eq!(req.header_value("x-hello"), Some("hello"));
        assert_eq!(req.context("hello.greeted"), Some("hello"));

        let mut resp = FakeResponse::new(200);
        assert_eq!(
            plugin.read_response(&mut req, &mut resp),
            Ok(ResponseOutcome::GoOn)
        );
        assert_eq!(resp.header_value("x-hello-seen"), Some("1"));
        assert_eq!(plugin.request_finish(&mut req, None), Ok(Action::GoOn));
        assert_eq!(plugin.finish(&mut session), Ok(Action::GoOn));
    }

    #[test]
    fn custom_greeting_and_header() {
        let config = "greeting = \"bonjour\"\nheader = \"X-Greeting\"\n";
        let plugin = TestPlugin::init(init, config).unwrap();
        let mut req = FakeRequest::get("/shop").header("x-greeting", "old");
        assert_eq!(plugin.before_location(&mut req), Ok(Outcome::GoOn));
        assert_eq!(req.header_values("x-greeting"), ["bonjour"]);
        assert_eq!(req.header_value("x-hello"), None);
        assert_eq!(req.context("hello.greeted"), Some("bonjour"));
    }

    #[test]
    fn hello_path_is_answered_by_the_plugin() {
        let plugin = TestPlugin::init(init, "greeting = \"hi\"").unwrap();
        let mut req = FakeRequest::get("/hello?x=1");
        let expected = Reply::new(200)
            .header("content-type", "text/plain")
            .body("hi from hookgate\n");
        assert_eq!(
            plugin.before_location(&mut req),
            Ok(Outcome::Respond(expected))
        );
        // Only the exact path.
        let mut req = FakeRequest::get("/hello/world");
        assert_eq!(plugin.before_location(&mut req), Ok(Outcome::GoOn));
    }

    #[test]
    fn bad_value_error_names_the_key() {
        let err = TestPlugin::init(init, "greeting = 5").err().unwrap();
        assert!(err.starts_with("hello plugin config: "), "{err}");
        assert!(err.contains("greeting"), "{err}");
        assert!(err.contains("expected a string"), "{err}");

        let err = TestPlugin::init(init, "header = \"x hello\"")
            .err()
            .unwrap();
        assert_eq!(
            err,
            "hello plugin config: header: \"x hello\" is not a header name"
        );
        let err = TestPlugin::init(init, "greeting = \"a\\nb\"")
            .err()
            .unwrap();
        assert!(err.contains("greeting: "), "{err}");
    }

    #[test]
    fn unknown_key_is_rejected() {
        let err = TestPlugin::init(init, "greting = \"hi\"").err().unwrap();
        assert!(err.contains("unknown field `greting`"), "{err}");
        assert!(err.contains("`greeting`"), "{err}");
    }
}
