//! The probe's config: its name, its event log, and its rules.

use std::path::PathBuf;

use hookgate_plugin_api::{HandlerKind, Point};
use serde::Deserialize;

/// The config as written (TOML).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default = "default_name")]
    name: String,
    log: Option<PathBuf>,
    points: Option<Vec<String>>,
    #[serde(default)]
    rule: Vec<RuleFile>,
}

fn default_name() -> String {
    "probe".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    point: String,
    action: Act,
    path: Option<String>,
    header: Option<HeaderMatch>,
    status: Option<u16>,
    body: Option<String>,
    redirect: Option<String>,
    code: Option<u16>,
    want_body: Option<WantBody>,
    while_file: Option<PathBuf>,
    sleep_ms: Option<u64>,
}

/// `want_body`: ask for the body (at request points and ReadResponse), declaring
/// what to do over the limit.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WantBody {
    /// `OverLimit::Skip`.
    Skip,
    /// `OverLimit::Reject`.
    Reject,
}

/// What a rule makes the probe do.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    /// Return GoOn.
    GoOn,
    /// Return Response (at request points, with a reply of `status`, 200 by default).
    Response,
    /// Set the redirect info (if `redirect` is given) and return Redirect.
    Redirect,
    /// Return Finish (at request points, with a reply only if `status` is given).
    Finish,
    /// Return Close.
    Close,
    /// Panic in the handler.
    Panic,
}

impl Act {
    /// The name used in the config and the event log.
    pub fn name(self) -> &'static str {
        match self {
            Act::GoOn => "go_on",
            Act::Response => "response",
            Act::Redirect => "redirect",
            Act::Finish => "finish",
            Act::Close => "close",
            Act::Panic => "panic",
        }
    }
}

/// `header = { name = "x-probe", value = "1" }`; without `value`, presence is enough.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name, any case.
    pub name: String,
    /// Exact value.
    pub value: Option<String>,
}

/// One rule: at `point`, when the filters hold, do `act`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Where the rule applies.
    pub point: Point,
    /// What the handler does.
    pub act: Act,
    /// Only for this request path.
    pub path: Option<String>,
    /// Only when this header is present (with this value).
    pub header: Option<HeaderMatch>,
    /// Reply status for Response/Finish at request points.
    pub status: Option<u16>,
    /// Reply body for Response/Finish at request points.
    pub body: Option<String>,
    /// URL given to `set_redirect`.
    pub redirect: Option<String>,
    /// Code given to `set_redirect` (0 = the host's default, 302).
    pub code: u16,
    /// Ask for the body (request points, ReadResponse).
    pub want_body: Option<WantBody>,
    /// The rule applies only while this file exists.
    pub while_file: Option<PathBuf>,
    /// Sleep this long before acting.
    pub sleep_ms: Option<u64>,
}

/// The parsed config.
#[derive(Debug)]
pub struct Config {
    /// Recorded with each event, to tell instances apart.
    pub name: String,
    /// Where events are appended, if anywhere.
    pub log: Option<PathBuf>,
    /// Rules in config order; the first that applies wins.
    pub rules: Vec<Rule>,
    /// The points it registers handlers at (`None`: all eleven).
    pub points: Option<Vec<Point>>,
}

/// Parses and checks the config text; errors name the rule and the key.
pub fn parse(text: &str) -> Result<Config, String> {
    let file: File =
        toml::from_str(text).map_err(|e| format!("probe config: {}", e.to_string().trim_end()))?;
    if file.name.is_empty() || file.name.contains(char::is_whitespace) {
        return Err(format!(
            "probe config: `name` = {:?} must be one word",
            file.name
        ));
    }
    let rules = file
        .rule
        .into_iter()
        .enumerate()
        .map(|(i, r)| rule(r).map_err(|e| format!("probe config: rule {}: {e}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    let points = match file.points {
        None => None,
        Some(names) => Some(
            names
                .iter()
                .map(|n| {
                    n.parse()
                        .map_err(|e| format!("probe config: `points`: {e}"))
                })
                .collect::<Result<Vec<Point>, _>>()?,
        ),
    };
    Ok(Config {
        name: file.name,
        log: file.log,
        rules,
        points,
    })
}

fn rule(r: RuleFile) -> Result<Rule, String> {
    let point: Point = r.point.parse().map_err(|e| format!("`point`: {e}"))?;
    let session_point = matches!(point.kind(), HandlerKind::Accept | HandlerKind::Finish);
    if session_point && (r.path.is_some() || r.header.is_some()) {
        return Err(format!(
            "`path` and `header` apply to request points, not to {point}"
        ));
    }
    Ok(Rule {
        point,
        act: r.action,
        path: r.path,
        header: r.header,
        status: r.status,
        body: r.body,
        redirect: r.redirect,
        code: r.code.unwrap_or(0),
        want_body: r.want_body,
        while_file: r.while_file,
        sleep_ms: r.sleep_ms,
    })
}
