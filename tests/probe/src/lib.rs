//! Test plugin for pinning the callback contract (DESIGN §2.3) cell by cell: its
//! config says which value to return at which point, optionally only for a request
//! path or header, and it records every callback it sees.
//!
//! ```toml
//! name = "A"                  # recorded with each event (default "probe")
//! log = "/tmp/x/events.log"   # optional: one line appended per callback
//!
//! [[rule]]                    # the first rule that applies wins; none = go_on
//! point = "found_product"     # any of the eleven point names
//! action = "response"         # go_on | response | redirect | finish | close | panic
//! path = "/deny"              # optional, request points only: exact request path
//! header = { name = "x-probe", value = "1" }  # optional, request points only
//! status = 403                # response: reply status (200 if unset);
//!                             # finish: reply status (unset = no reply)
//! body = "denied"             # optional reply body
//! redirect = "/elsewhere"     # redirect: URL for set_redirect (unset: none is set)
//! code = 301                  # redirect: code for set_redirect (unset: 302)
//! want_body = "reject"        # request points, read_response: ask for the body
//!                             # (skip | reject over the limit); recorded as offered=
//! while_file = "/tmp/x/broken"  # optional: the rule applies only while this file exists
//! sleep_ms = 400              # optional: the handler sleeps this long before acting
//! ```
//!
//! A top-level `points = ["found_product"]` registers handlers at these points only
//! (all eleven by default).
//!
//! At request_body and response_body the probe records `body=<length>`, and with
//! action `go_on` a rule's `body` replaces the body; at forward a rule's `body` is
//! tried (`set_body=false`: refused there).
//!
//! Event lines (`<name> <point> <target> key=value…`, `-` for empty values):
//!
//! ```text
//! A accept 7 remote=127.0.0.1:40000 tls=false action=go_on
//! A handshake 7 sni=shop.example.com alpn=h2 version=TLSv1.3 action=go_on
//! A found_product /deny session=7 method=GET host=shop product=shop cluster=- subcluster=- backend=- error=- action=response
//! A read_response /deny session=7 method=GET host=shop product=shop cluster=- subcluster=- backend=- error=- status=403 action=go_on
//! A request_finish /x session=7 … status=none action=go_on
//! A finish 7 requests=1 action=go_on
//! ```
//!
//! At ReadResponse the probe also adds the response header `x-probe-seen: <name>`, so
//! a client can tell that ReadResponse ran on what it received.

mod config;
mod record;

use std::sync::Arc;

use hookgate_plugin_api::{
    export_plugin, Action, Outcome, OverLimit, Point, Redirect, Registry, Reply, Request, Response,
    ResponseOutcome, Session,
};

pub use config::{parse, Act, Config, HeaderMatch, Rule, WantBody};
use record::Line;

/// Parses the config and registers a recording handler at every point.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let probe = Arc::new(Probe(config::parse(config)?));
    let at = |point: Point| probe.0.points.as_ref().is_none_or(|p| p.contains(&point));
    let p = probe.clone();
    if at(Point::Accept) {
        reg.on_accept(move |s| p.session(Point::Accept, s));
    }
    let p = probe.clone();
    if at(Point::Handshake) {
        reg.on_handshake(move |s| p.session(Point::Handshake, s));
    }
    let p = probe.clone();
    if at(Point::BeforeLocation) {
        reg.on_before_location(move |req| p.request(Point::BeforeLocation, req));
    }
    let p = probe.clone();
    if at(Point::FoundProduct) {
        reg.on_found_product(move |req| p.request(Point::FoundProduct, req));
    }
    let p = probe.clone();
    if at(Point::AfterLocation) {
        reg.on_after_location(move |req| p.request(Point::AfterLocation, req));
    }
    let p = probe.clone();
    if at(Point::RequestBody) {
        reg.on_request_body(move |req| p.request(Point::RequestBody, req));
    }
    let p = probe.clone();
    if at(Point::ResponseBody) {
        reg.on_response_body(move |req, resp| p.read_response(Point::ResponseBody, req, resp));
    }
    let p = probe.clone();
    if at(Point::Forward) {
        reg.on_forward(move |req| p.forward(req));
    }
    let p = probe.clone();
    if at(Point::ReadResponse) {
        reg.on_read_response(move |req, resp| p.read_response(Point::ReadResponse, req, resp));
    }
    let p = probe.clone();
    if at(Point::RequestFinish) {
        reg.on_request_finish(move |req, resp| p.request_finish(req, resp));
    }
    if at(Point::Finish) {
        let p = probe.clone();
        reg.on_finish(move |s| p.session(Point::Finish, s));
    }
    Ok(())
}

export_plugin!(
    init,
    points = [
        Accept,
        Handshake,
        BeforeLocation,
        FoundProduct,
        AfterLocation,
        RequestBody,
        Forward,
        ReadResponse,
        ResponseBody,
        RequestFinish,
        Finish
    ]
);

/// One instance: its config, shared by its handlers.
struct Probe(Config);

impl Probe {
    fn session(&self, point: Point, s: &mut Session<'_>) -> Action {
        let act = self.rule(point, None).map_or(Act::GoOn, |r| r.act);
        let mut line = Line::new(&self.0.name, point.name(), &s.id().to_string());
        line = match point {
            Point::Accept => line
                .field("remote", &s.remote_addr().to_string())
                .field("tls", if s.is_tls() { "true" } else { "false" }),
            Point::Handshake => line
                .field("sni", s.sni().unwrap_or(""))
                .field("alpn", s.alpn().unwrap_or(""))
                .field("version", s.tls_version().unwrap_or("")),
            _ => line.field("requests", &s.request_count().to_string()),
        };
        self.record(line.field("action", act.name()));
        action(act, &self.0.name, point)
    }

    fn request(&self, point: Point, req: &mut Request<'_>) -> Outcome {
        let rule = self.rule(point, Some(req));
        let act = rule.map_or(Act::GoOn, |r| r.act);
        let mut line = request_line(&self.0.name, point, req);
        if let Some(want) = rule.and_then(|r| r.want_body) {
            let offered = req.want_body(over_limit(want));
            line = line.field("offered", if offered { "true" } else { "false" });
        }
        let status = rule.and_then(|r| r.status);
        let body = rule.and_then(|r| r.body.as_deref());
        if point == Point::RequestBody {
            line = line.field("body", &req.body().map_or(0, <[u8]>::len).to_string());
            if let (Act::GoOn, Some(body)) = (act, body) {
                req.set_body(body);
            }
        }
        self.record(line.field("action", act.name()));
        let reply = |status: u16| match body {
            Some(body) => Reply::new(status).body(body),
            None => Reply::new(status),
        };
        match act {
            Act::GoOn => Outcome::GoOn,
            Act::Response => Outcome::Respond(reply(status.unwrap_or(200))),
            Act::Redirect => Outcome::Redirect(redirect(rule)),
            Act::Finish => Outcome::Finish(status.map(reply)),
            Act::Close => Outcome::Close,
            Act::Panic => panic!("probe {}: panic at {point}", self.0.name),
        }
    }

    fn forward(&self, req: &mut Request<'_>) -> Action {
        let point = Point::Forward;
        let rule = self.rule(point, Some(req));
        let act = rule.map_or(Act::GoOn, |r| r.act);
        let mut line = request_line(&self.0.name, point, req);
        if let Some(body) = rule.and_then(|r| r.body.as_deref()) {
            // Only RequestBody may replace the body: recorded, never sent.
            let replaced = req.set_body(body);
            line = line.field("set_body", if replaced { "true" } else { "false" });
        }
        self.record(line.field("action", act.name()));
        action(act, &self.0.name, point)
    }

    /// At ReadResponse and ResponseBody.
    fn read_response(
        &self,
        point: Point,
        req: &mut Request<'_>,
        resp: &mut Response<'_>,
    ) -> ResponseOutcome {
        let rule = self.rule(point, Some(req));
        let act = rule.map_or(Act::GoOn, |r| r.act);
        let mut line =
            request_line(&self.0.name, point, req).field("status", &resp.status().to_string());
        if let Some(want) = rule.and_then(|r| r.want_body) {
            let offered = resp.want_body(over_limit(want));
            line = line.field("offered", if offered { "true" } else { "false" });
        }
        if point == Point::ResponseBody {
            line = line.field("body", &resp.body().map_or(0, <[u8]>::len).to_string());
            if let (Act::GoOn, Some(body)) = (act, rule.and_then(|r| r.body.as_deref())) {
                resp.set_body(body);
            }
        }
        self.record(line.field("action", act.name()));
        resp.add_header(
            if point == Point::ReadResponse {
                "x-probe-seen"
            } else {
                "x-probe-body-seen"
            },
            &self.0.name,
        );
        match act {
            Act::GoOn => ResponseOutcome::GoOn,
            Act::Response => ResponseOutcome::Response,
            Act::Redirect => ResponseOutcome::Redirect(redirect(rule)),
            Act::Finish => ResponseOutcome::Finish,
            Act::Close => ResponseOutcome::Close,
            Act::Panic => panic!("probe {}: panic at {point}", self.0.name),
        }
    }

    fn request_finish(&self, req: &mut Request<'_>, resp: Option<&Response<'_>>) -> Action {
        let point = Point::RequestFinish;
        let act = self.rule(point, Some(req)).map_or(Act::GoOn, |r| r.act);
        let status = resp.map_or("none".to_owned(), |r| r.status().to_string());
        let line = request_line(&self.0.name, point, req)
            .field("status", &status)
            .field("action", act.name());
        self.record(line);
        action(act, &self.0.name, point)
    }

    /// The first rule for `point` whose filters hold for `req`, after its `sleep_ms`.
    fn rule(&self, point: Point, req: Option<&Request<'_>>) -> Option<&Rule> {
        let rule = self.first_rule(point, req);
        if let Some(ms) = rule.and_then(|r| r.sleep_ms) {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        rule
    }

    /// The first rule for `point` whose filters hold for `req`.
    fn first_rule(&self, point: Point, req: Option<&Request<'_>>) -> Option<&Rule> {
        self.0.rules.iter().find(|rule| {
            if rule.point != point {
                return false;
            }
            if rule.while_file.as_ref().is_some_and(|f| !f.exists()) {
                return false;
            }
            let Some(req) = req else {
                return true;
            };
            let path_ok = rule.path.as_deref().is_none_or(|p| p == req.path());
            let header_ok = rule.header.as_ref().is_none_or(|h| match &h.value {
                Some(value) => req.header_all(&h.name).any(|v| v == value),
                None => req.header(&h.name).is_some(),
            });
            path_ok && header_ok
        })
    }

    fn record(&self, line: Line) {
        if let Some(log) = &self.0.log {
            line.append(log);
        }
    }
}

/// The event line of a request point, up to (not including) the status and action.
fn request_line(name: &str, point: Point, req: &mut Request<'_>) -> Line {
    let session = req.session().id().to_string();
    Line::new(name, point.name(), req.path())
        .field("session", &session)
        .field("method", req.method())
        .field("host", req.host())
        .field("product", req.product())
        .field("cluster", req.cluster())
        .field("subcluster", req.subcluster())
        .field("backend", req.backend())
        .field("error", req.error_code())
}

/// The rule's redirect; without a URL configured, an empty target, which sets none
/// (a plugin error).
fn redirect(rule: Option<&Rule>) -> Redirect {
    match rule.and_then(|r| r.redirect.as_deref()) {
        Some(url) => Redirect::to(url).status(rule.map_or(0, |r| r.code)),
        None => Redirect::to(""),
    }
}

fn over_limit(want: WantBody) -> OverLimit {
    match want {
        WantBody::Skip => OverLimit::Skip,
        WantBody::Reject => OverLimit::Reject,
    }
}

/// The [`Action`] for `act` (panicking for [`Act::Panic`]).
fn action(act: Act, name: &str, point: Point) -> Action {
    match act {
        Act::GoOn => Action::GoOn,
        Act::Response => Action::Response,
        Act::Redirect => Action::Redirect,
        Act::Finish => Action::Finish,
        Act::Close => Action::Close,
        Act::Panic => panic!("probe {name}: panic at {point}"),
    }
}

#[cfg(test)]
mod tests;
