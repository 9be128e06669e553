//! The lines: [`RequestLine`] at RequestFinish and [`ConnectionLine`] at Finish, each
//! written in the combined log format or as JSON.
//!
//! Internal: a line is written on every request, so it is appended piece by piece to a
//! byte buffer ([`text::Text`]) rather than through `core::fmt` or serde, whose
//! per-argument, per-field and per-`char` calls cost several times the rest of the
//! plugin. JSON strings still go through serde_json's escaping; the time is formatted
//! once per second per thread ([`timestamp`]).

mod text;
mod timestamp;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookgate_plugin_api::{Request, Response, Session};

use crate::config::Format;
use text::Text;

/// This instance's typed state for a request: when BeforeLocation saw it, since the
/// Unix epoch (kept by the host between the two points, unseen by other plugins).
#[derive(Default)]
struct Started(Option<Duration>);

/// Notes that `req` started `now`.
pub(crate) fn note_start(req: &mut Request<'_>, now: SystemTime) {
    req.local::<Started>().0 = Some(since_epoch(now));
}

/// One request, as RequestFinish sees it.
pub(crate) struct RequestLine<'a> {
    /// When the request started (BeforeLocation), else when it finished; since the
    /// Unix epoch.
    time: Duration,
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
    duration: Option<Duration>,
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
        // Taken, not borrowed: RequestFinish is the state's last use, and taking asks
        // the host once (borrowing asks twice, and creates the state when BeforeLocation
        // did not run).
        let start = req.take_local::<Started>().and_then(|started| started.0);
        let req: &'a Request<'_> = req;
        let now = since_epoch(now);
        let non_empty = |s: &'a str| Some(s).filter(|s| !s.is_empty());
        RequestLine {
            time: start.unwrap_or(now),
            client: req.client_ip(),
            session,
            // The header only when the context has no id: each look-up crosses the ABI.
            request_id: req
                .context("request_id")
                .or_else(|| req.header("x-request-id")),
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
            duration: start.and_then(|start| now.checked_sub(start)),
        }
    }
}

/// One connection, as Finish sees it.
pub(crate) struct ConnectionLine<'a> {
    /// When the connection was accepted, since the Unix epoch.
    time: Duration,
    session: u64,
    client: SocketAddr,
    protocol: &'a str,
    tls_version: Option<&'a str>,
    requests: u64,
    duration: Option<Duration>,
}

impl<'a> ConnectionLine<'a> {
    pub(crate) fn new(session: &'a Session<'_>, now: SystemTime) -> ConnectionLine<'a> {
        let start = since_epoch(session.start_time());
        ConnectionLine {
            time: start,
            session: session.id(),
            client: session.remote_addr(),
            protocol: session.protocol(),
            tls_version: session.tls_version(),
            requests: session.request_count(),
            duration: since_epoch(now).checked_sub(start),
        }
    }
}

/// A line in either format.
pub(crate) trait Line {
    /// Appends the line in the combined log format, without the newline.
    fn combined(&self, out: &mut Text<'_>);

    /// Appends the line as a JSON object, without the newline.
    fn json(&self, out: &mut Text<'_>);

    /// Appends the line in `format`, with its newline, to `out`.
    fn render(&self, format: Format, out: &mut Vec<u8>) {
        let mut text = Text::new(out);
        match format {
            Format::Combined => self.combined(&mut text),
            Format::Json => self.json(&mut text),
        }
        text.raw("\n");
    }
}

impl Line for RequestLine<'_> {
    fn combined(&self, out: &mut Text<'_>) {
        out.ip(self.client)
            .raw(" - - [")
            .clf_time(self.time)
            .raw("] \"")
            .escaped(self.method)
            .raw(" ")
            .escaped(self.uri)
            .raw(" ")
            .raw(self.protocol)
            .raw("\" ")
            .number_or_dash(self.status)
            .raw(" ")
            .number_or_dash(self.bytes)
            // Quoted fields, `"-"` when unknown: a field's closing quote, the next one's
            // name and its opening quote are copied as one piece.
            .raw(" \"")
            .escaped_or_dash(self.referer)
            .raw("\" \"")
            .escaped_or_dash(self.user_agent)
            .raw("\" request_id=\"")
            .escaped_or_dash(self.request_id)
            .raw("\" product=\"")
            .escaped_or_dash(self.product)
            .raw("\" cluster=\"")
            .escaped_or_dash(self.cluster)
            .raw("\" backend=\"")
            .escaped_or_dash(self.backend)
            .raw("\" error=\"")
            .escaped_or_dash(self.error)
            .raw("\" session=")
            .number(self.session)
            .raw(" duration_ms=")
            .millis_or_dash(self.duration);
    }

    fn json(&self, out: &mut Text<'_>) {
        out.raw("{\"type\":\"request\",\"time\":")
            .json_time(self.time)
            .raw(",\"client\":\"")
            .ip(self.client)
            .raw("\",\"session\":")
            .number(self.session)
            .raw(",\"request_id\":")
            .json_string_or_null(self.request_id)
            .raw(",\"method\":")
            .json_string(self.method)
            .raw(",\"uri\":")
            .json_string(self.uri)
            .raw(",\"protocol\":")
            .json_string(self.protocol)
            .raw(",\"status\":")
            .number_or_null(self.status)
            .raw(",\"bytes\":")
            .number_or_null(self.bytes)
            .raw(",\"referer\":")
            .json_string_or_null(self.referer)
            .raw(",\"user_agent\":")
            .json_string_or_null(self.user_agent)
            .raw(",\"product\":")
            .json_string_or_null(self.product)
            .raw(",\"cluster\":")
            .json_string_or_null(self.cluster)
            .raw(",\"backend\":")
            .json_string_or_null(self.backend)
            .raw(",\"error\":")
            .json_string_or_null(self.error)
            .raw(",\"duration_ms\":")
            .json_millis_or_null(self.duration)
            .raw("}");
    }
}

impl Line for ConnectionLine<'_> {
    fn combined(&self, out: &mut Text<'_>) {
        out.socket_addr(self.client)
            .raw(" - - [")
            .clf_time(self.time)
            .raw("] \"CONNECTION\" session=")
            .number(self.session)
            .raw(" protocol=")
            .escaped(self.protocol)
            .raw(" tls=")
            .escaped_or_dash(self.tls_version)
            .raw(" requests=")
            .number(self.requests)
            .raw(" duration_ms=")
            .millis_or_dash(self.duration);
    }

    fn json(&self, out: &mut Text<'_>) {
        out.raw("{\"type\":\"connection\",\"time\":")
            .json_time(self.time)
            .raw(",\"session\":")
            .number(self.session)
            .raw(",\"client\":\"")
            .socket_addr(self.client)
            .raw("\",\"protocol\":")
            .json_string(self.protocol)
            .raw(",\"tls_version\":")
            .json_string_or_null(self.tls_version)
            .raw(",\"requests\":")
            .number(self.requests)
            .raw(",\"duration_ms\":")
            .json_millis_or_null(self.duration)
            .raw("}");
    }
}

/// The time since the Unix epoch; a clock set before 1970 counts as 1970.
fn since_epoch(time: SystemTime) -> Duration {
    time.duration_since(UNIX_EPOCH).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::net::IpAddr;
    use std::time::{Duration, SystemTime};

    use time::macros::format_description;
    use time::OffsetDateTime;

    use super::{Line, RequestLine};
    use crate::config::Format;

    /// A request line in the combined format as the plugin first wrote it, field by
    /// field through `core::fmt`: what the piecewise writer must reproduce byte for
    /// byte.
    fn combined_through_fmt(line: &RequestLine<'_>) -> String {
        let escaped = |text: &str| {
            let mut out = String::new();
            for c in text.chars() {
                match c {
                    '"' | '\\' => write!(out, "\\{c}").unwrap(),
                    c if c.is_control() => write!(out, "{}", c.escape_default()).unwrap(),
                    c => out.push(c),
                }
            }
            out
        };
        let quoted = |text: Option<&str>| match text {
            Some(text) => format!("\"{}\"", escaped(text)),
            None => "\"-\"".to_owned(),
        };
        let or_dash = |n: Option<u64>| n.map_or("-".to_owned(), |n| n.to_string());
        let time = OffsetDateTime::from(SystemTime::UNIX_EPOCH + line.time)
            .format(format_description!(
                "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
            ))
            .unwrap();
        let duration = line.duration.map_or("-".to_owned(), |d| {
            format!("{:.3}", d.as_micros() as f64 / 1000.0)
        });
        format!(
            "{} - - [{time}] \"{} {} {}\" {} {} {} {} request_id={} product={} cluster={} \
             backend={} error={} session={} duration_ms={duration}\n",
            line.client,
            escaped(line.method),
            escaped(line.uri),
            line.protocol,
            or_dash(line.status.map(u64::from)),
            or_dash(line.bytes),
            quoted(line.referer),
            quoted(line.user_agent),
            quoted(line.request_id),
            quoted(line.product),
            quoted(line.cluster),
            quoted(line.backend),
            quoted(line.error),
            line.session,
        )
    }

    #[test]
    fn request_lines_are_what_core_fmt_writes() {
        let texts = [
            None,
            Some(""),
            Some("-"),
            Some("a"),
            Some("GET"),
            Some("/bytes/6"),
            Some("h2load nghttp2/1.59.0"),
            Some("0123456789abcdef0123456789abcdef"),
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"),
            Some("evil\"\t\\ \"forged"),
            Some("new\nline\r\0\u{1b}[31m\u{7f}"),
            Some("caf\u{e9} \u{85} \u{9f} \u{a0} \u{2028} \u{1f600}"),
            Some("/\u{e9}t\u{e9}?q=\u{fc}ber"),
        ];
        let clients: [IpAddr; 4] = [
            [127, 0, 0, 1].into(),
            [10, 200, 3, 45].into(),
            "::1".parse().unwrap(),
            "2001:db8::7334".parse().unwrap(),
        ];
        let durations = [
            None,
            Some(Duration::ZERO),
            Some(Duration::from_nanos(999)),
            Some(Duration::from_micros(1_274)),
            Some(Duration::from_secs(3_600) + Duration::from_nanos(123_456_789)),
        ];
        let mut out = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let other = |k: usize| texts[(i + k) % texts.len()];
            let line = RequestLine {
                time: Duration::new(1_764_000_000 + 86_399 * i as u64, 5),
                client: clients[i % clients.len()],
                session: [0, 7, 999, 1_000, u64::MAX][i % 5],
                request_id: other(1),
                method: text.unwrap_or("GET"),
                uri: other(2).unwrap_or("/"),
                protocol: ["HTTP/1.1", "HTTP/2.0"][i % 2],
                status: [None, Some(200), Some(404), Some(99), Some(1_000)][i % 5],
                bytes: [None, Some(0), Some(6), Some(123_456), Some(u64::MAX)][(i + 1) % 5],
                referer: *text,
                user_agent: other(3),
                product: other(4),
                cluster: other(5),
                backend: other(6),
                error: other(7),
                duration: durations[i % durations.len()],
            };
            out.clear();
            line.render(Format::Combined, &mut out);
            assert_eq!(String::from_utf8_lossy(&out), combined_through_fmt(&line));
        }
    }
}
