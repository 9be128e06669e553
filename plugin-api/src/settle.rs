//! How a host settles what handlers return: one implementation, used by the proxy's
//! chains and by the fake host ([`testing`](crate::testing)), so that a plugin's unit
//! tests see what the proxy does (a Redirect without a URL, a Response without a
//! response: plugin errors in both).
//!
//! Internal to hosts; plugin authors read the callback contract in the crate docs.

use crate::abi::{ActionCode, PointCode, ROption, RequestVerdict, ResponseData};
use crate::{Action, Point, PointSet};

/// Why a registration is refused: `point` is not among the manifest's `declared`
/// points (listed once, in `export_plugin!`); `None` if it is declared.
pub fn undeclared(point: Point, declared: PointSet) -> Option<String> {
    if declared.contains(point) {
        return None;
    }
    let names: Vec<&str> = declared.iter().map(Point::name).collect();
    Some(format!(
        "registered a handler at {}, which its manifest does not declare (declared: {})",
        point.name(),
        names.join(", ")
    ))
}

/// The action a handler returned, if this version knows its number (a newer plugin's
/// action is a plugin error here).
#[inline]
pub fn action_of(code: ActionCode) -> Result<Action, String> {
    code.action().ok_or_else(|| {
        format!(
            "returned action {}, which this hookgate does not know",
            code.0
        )
    })
}

/// The typed point `T` a registration's point code names, or why it is refused: a
/// point this version does not know, or one of another handler type.
pub fn point_of<T: TryFrom<Point>>(code: PointCode) -> Result<T, String> {
    let point = code.point().ok_or_else(|| {
        format!(
            "registered a handler at point {}, which this hookgate does not know",
            code.0
        )
    })?;
    T::try_from(point).map_err(|_| {
        format!(
            "registered a handler of another type at {} (its handler type is {:?})",
            point.name(),
            point.kind()
        )
    })
}

/// What a request-point handler decided, checked.
#[derive(Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    /// Go on to the next handler, then route on.
    GoOn,
    /// Send this response (ReadResponse runs on it); keep-alive.
    Respond(ResponseData),
    /// Send the redirect set on the request; keep-alive.
    Redirect,
    /// Send this response (500 if none), then close.
    Finish(Option<ResponseData>),
    /// Send nothing; close.
    Close,
    /// Wait for the callouts the handler started, then its continuation decides
    /// (0.2.2; the host checks that the point allows it).
    Wait,
}

/// A request-point handler's verdict, checked: a Response needs a response, a
/// Redirect a URL set on the request (`redirect_set`).
pub fn request_verdict(
    verdict: RequestVerdict,
    redirect_set: bool,
) -> Result<RequestOutcome, String> {
    if verdict.action == ActionCode::WAIT {
        return Ok(RequestOutcome::Wait);
    }
    Ok(match (action_of(verdict.action)?, verdict.response) {
        (Action::GoOn, _) => RequestOutcome::GoOn,
        (Action::Response, ROption::RSome(response)) => RequestOutcome::Respond(response),
        (Action::Response, ROption::RNone) => {
            return Err("returned Response without a response".to_owned())
        }
        (Action::Redirect, _) if !redirect_set => {
            return Err("returned Redirect without setting a redirect URL".to_owned())
        }
        (Action::Redirect, _) => RequestOutcome::Redirect,
        (Action::Finish, response) => RequestOutcome::Finish(response.into_option()),
        (Action::Close, _) => RequestOutcome::Close,
    })
}

/// An action returned at `point`, checked: at ReadResponse and ResponseBody, a
/// Redirect needs a URL set on the request (`redirect_set`, asked only then).
#[inline]
pub fn action(
    point: Point,
    action: Action,
    redirect_set: impl FnOnce() -> bool,
) -> Result<Action, String> {
    let sends_redirect = matches!(point, Point::ReadResponse | Point::ResponseBody);
    if sends_redirect && action == Action::Redirect && !redirect_set() {
        return Err("returned Redirect without setting a redirect URL".to_owned());
    }
    Ok(action)
}

/// How a host treats a failing handler (a panic, a broken verdict).
pub trait FailurePolicy {
    /// Whether the failure is treated as GoOn (`fail-open`) rather than stopping the
    /// chain (`fail-closed`).
    fn fail_open(&self) -> bool;
    /// Notes the failure (the proxy logs and counts it).
    fn failed(&self, point: Point, message: &str);
}

/// One handler's result at `point` under `policy`: `None` to go on to the next
/// handler, `Some(Ok(value))` to stop with `value`, `Some(Err(message))` for a failure
/// under fail-closed.
#[inline]
pub fn settle<T>(
    result: Result<T, String>,
    go_on: impl FnOnce(&T) -> bool,
    policy: &impl FailurePolicy,
    point: Point,
) -> Option<Result<T, String>> {
    match result {
        Ok(value) if go_on(&value) => None,
        Ok(value) => Some(Ok(value)),
        Err(message) => {
            policy.failed(point, &message);
            if policy.fail_open() {
                None
            } else {
                Some(Err(message))
            }
        }
    }
}
