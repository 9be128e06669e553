//! The lines: [`RequestLine`] at RequestFinish and [`ConnectionLine`] at Finish, each
//! written in the combined log format or as JSON.

use std::fmt::{self, Display, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate_plugin_api::{Request, Response, Session};
use serde::Serialize;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

use crate::config::Format;

/// The request context key where BeforeLocation leaves the request's start time (µs
/// since the Unix epoch) for RequestFinish.
pub(crate) const START_KEY: &str = "access_log.start_us";

/// `[10/Oct/2000:13:55:36 +0000]`'s inside: the combined format's time, in UTC.
const CLF_TIME: &[BorrowedFormatItem<'static>] = format_description!(
    "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
);

/// One request, as RequestFinish sees it.
#[derive(Serialize)]
pub(crate) struct RequestLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    /// When the request started (BeforeLocation), else when it finished.
    #[serde(serialize_with = "time::serde::rfc3339::serialize")]
    time: OffsetDateTime,
    client: IpAddr,
    session: u64,
    request_id: Option<&'a str>,
    method: &'a str,
    uri: &'a str,
    protocol: &'static str,
    /// `None`: the request ended without a response (Close, redirect).
    status: Option<u16>,
    /// The response's Content-Length, if it has one.
    bytes: Option<u64>,
    referer: Option<&'a str>,
    user_agent: Option<&'a str>,
    product: Option<&'a str>,
    cluster: Option<&'a str>,
    backend: Option<&'a str>,
    /// The proxy's error code (`connect_failed`…).
    error: Option<&'a str>,
    /// `None` when BeforeLocation did not run for this instance (an earlier plugin
    /// ended the request there).
    duration_ms: Option<f64>,
}

impl<'a> RequestLine<'a> {
    /// The line for a request that RequestFinish sees `now`.
    pub(crate) fn new(
        req: &'a mut Request<'_>,
        response: Option<&Response<'_>>,
        now: SystemTime,
    ) -> RequestLine<'a> {
        let (session, protocol) = {
            let session = req.session();
            // The SDK does not say which HTTP/1 minor version the client spoke.
            let protocol = match session.protocol() {
                "h2" => "HTTP/2.0",
                _ => "HTTP/1.1",
            };
            (session.id(), protocol)
        };
        let req: &'a Request<'_> = req;
        let start = req
            .context(START_KEY)
            .and_then(|us| us.parse().ok())
            .map(|us| UNIX_EPOCH + Duration::from_micros(us));
        let non_empty = |s: &'a str| Some(s).filter(|s| !s.is_empty());
        RequestLine {
            kind: "request",
            time: OffsetDateTime::from(start.unwrap_or(now)),
            client: req.client_ip(),
            session,
            request_id: req.context("request_id").or(req.header("x-request-id")),
            method: req.method(),
            uri: req.uri(),
            protocol,
            status: response.map(Response::status),
            bytes: response
                .and_then(|r| r.header("content-length"))
                .and_then(|len| len.parse().ok()),
            referer: req.header("referer"),
            user_agent: req.header("user-agent"),
            product: non_empty(req.product()),
            cluster: non_empty(req.cluster()),
            backend: non_empty(req.backend()),
            error: non_empty(req.error_code()),
            duration_ms: start.and_then(|start| millis(now, start)),
        }
    }
}

/// One connection, as Finish sees it.
#[derive(Serialize)]
pub(crate) struct ConnectionLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    /// When the connection was accepted.
    #[serde(serialize_with = "time::serde::rfc3339::serialize")]
    time: OffsetDateTime,
    session: u64,
    client: SocketAddr,
    protocol: &'a str,
    tls_version: Option<&'a str>,
    requests: u64,
    duration_ms: Option<f64>,
}

impl<'a> ConnectionLine<'a> {
    pub(crate) fn new(session: &'a Session<'_>, now: SystemTime) -> ConnectionLine<'a> {
        let start = session.start_time();
        ConnectionLine {
            kind: "connection",
            time: OffsetDateTime::from(start),
            session: session.id(),
            client: session.remote_addr(),
            protocol: session.protocol(),
            tls_version: session.tls_version(),
            requests: session.request_count(),
            duration_ms: millis(now, start),
        }
    }
}

/// A line in either format.
pub(crate) trait Line: Serialize {
    /// Writes the line in the combined log format, without the newline.
    fn combined(&self, out: &mut String) -> fmt::Result;

    /// The line in `format`, with its newline.
    fn render(&self, format: Format) -> String {
        let mut out = match format {
            // Cannot fail: string keys, and no custom error but time formatting, which
            // cannot fail for a time taken from the clock.
            Format::Json => serde_json::to_string(self).unwrap_or_default(),
            Format::Combined => {
                let mut out = String::with_capacity(256);
                // Writing into a String does not fail.
                let _ = self.combined(&mut out);
                out
            }
        };
        out.push('\n');
        out
    }
}

impl Line for RequestLine<'_> {
    fn combined(&self, out: &mut String) -> fmt::Result {
        write!(
            out,
            "{} - - [{}] \"{} {} {}\" {} {} {} {} request_id={} product={} cluster={} \
             backend={} error={} session={} duration_ms={:.3}",
            self.client,
            clf_time(self.time),
            Escaped(self.method),
            Escaped(self.uri),
            self.protocol,
            Dash(self.status),
            Dash(self.bytes),
            Quoted(self.referer),
            Quoted(self.user_agent),
            Quoted(self.request_id),
            Quoted(self.product),
            Quoted(self.cluster),
            Quoted(self.backend),
            Quoted(self.error),
            self.session,
            Dash(self.duration_ms),
        )
    }
}

impl Line for ConnectionLine<'_> {
    fn combined(&self, out: &mut String) -> fmt::Result {
        write!(
            out,
            "{} - - [{}] \"CONNECTION\" session={} protocol={} tls={} requests={} \
             duration_ms={:.3}",
            self.client,
            clf_time(self.time),
            self.session,
            Escaped(self.protocol),
            Dash(self.tls_version.map(Escaped)),
            self.requests,
            Dash(self.duration_ms),
        )
    }
}

fn millis(now: SystemTime, start: SystemTime) -> Option<f64> {
    let elapsed = now.duration_since(start).ok()?;
    Some(elapsed.as_micros() as f64 / 1000.0)
}

fn clf_time(time: OffsetDateTime) -> String {
    time.format(CLF_TIME).unwrap_or_else(|_| "-".to_owned())
}

/// The value, or `-` when there is none; formatting flags pass through.
struct Dash<T>(Option<T>);

impl<T: Display> Display for Dash<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(value) => value.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// Text from the client with quotes, backslashes and control characters escaped, so
/// that it can neither end the line nor forge a field.
struct Escaped<'a>(&'a str);

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.chars().try_for_each(|c| match c {
            '"' | '\\' => write!(f, "\\{c}"),
            c if c.is_control() => write!(f, "{}", c.escape_default()),
            c => f.write_char(c),
        })
    }
}

/// `"text"` escaped, or `"-"`.
struct Quoted<'a>(Option<&'a str>);

impl Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(text) => write!(f, "\"{}\"", Escaped(text)),
            None => f.write_str("\"-\""),
        }
    }
}
