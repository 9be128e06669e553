//! What a handler tells the server to do next: [`Action`] and, at request points,
//! [`Outcome`], at ReadResponse and ResponseBody, [`ResponseOutcome`].

use crate::reply::Reply;

/// A handler's return value, numbered as in BFE. What the server does with each value
/// at each point is [the callback contract](crate#the-callback-contract).
///
/// ```
/// use hookgate_plugin_api::Action;
/// assert_eq!(Action::GoOn as u8, 1);
/// assert_eq!(Action::from_u8(4), Some(Action::Close));
/// ```
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Send the response, then close the connection.
    Finish = 0,
    /// Go on to the next handler.
    GoOn = 1,
    /// Redirect, using the request's redirect info.
    Redirect = 2,
    /// Send the handler's response.
    Response = 3,
    /// Close the connection without sending anything.
    Close = 4,
}

impl Action {
    /// All values, in BFE's order.
    pub const ALL: [Action; 5] = [
        Action::Finish,
        Action::GoOn,
        Action::Redirect,
        Action::Response,
        Action::Close,
    ];

    /// The value numbered `n`, if any.
    ///
    /// ```
    /// # use hookgate_plugin_api::Action;
    /// assert_eq!(Action::from_u8(2), Some(Action::Redirect));
    /// assert_eq!(Action::from_u8(9), None);
    /// ```
    #[inline]
    pub fn from_u8(n: u8) -> Option<Action> {
        match n {
            0 => Some(Action::Finish),
            1 => Some(Action::GoOn),
            2 => Some(Action::Redirect),
            3 => Some(Action::Response),
            4 => Some(Action::Close),
            _ => None,
        }
    }

    /// The name used in configs and logs: `finish`, `go_on`, `redirect`, `response`,
    /// `close`.
    ///
    /// ```
    /// # use hookgate_plugin_api::Action;
    /// assert_eq!(Action::GoOn.name(), "go_on");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Action::Finish => "finish",
            Action::GoOn => "go_on",
            Action::Redirect => "redirect",
            Action::Response => "response",
            Action::Close => "close",
        }
    }
}

/// What a handler at a request point (`BeforeLocation`, `FoundProduct`,
/// `AfterLocation`) returns: an [`Action`] together with the response it needs, so that
/// "Response without a response" cannot be written.
///
/// ```
/// use hookgate_plugin_api::{Action, Outcome, Reply};
/// let out = Outcome::Respond(Reply::new(403).body("forbidden"));
/// assert_eq!(out.action(), Action::Response);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Go on to the next handler, then routing.
    GoOn,
    /// Send this response (`ReadResponse` runs on it); keep the connection.
    Respond(Reply),
    /// Send the client elsewhere; ReadResponse skipped; keep the connection.
    Redirect(crate::Redirect),
    /// Send this response (500 if `None`), then close the connection.
    Finish(Option<Reply>),
    /// Close the connection without sending anything.
    Close,
    /// Wait for the callouts the handler started; the continuation given to
    /// [`Request::wait`](crate::Request::wait), which alone makes this outcome, then
    /// decides (since 0.2.2; at BeforeLocation, FoundProduct and AfterLocation).
    Wait,
}

impl Outcome {
    /// The BFE return value this outcome stands for.
    ///
    /// ```
    /// # use hookgate_plugin_api::{Action, Outcome};
    /// assert_eq!(Outcome::Finish(None).action(), Action::Finish);
    /// ```
    pub fn action(&self) -> Action {
        match self {
            Outcome::GoOn => Action::GoOn,
            Outcome::Respond(_) => Action::Response,
            Outcome::Redirect(_) => Action::Redirect,
            Outcome::Finish(_) => Action::Finish,
            Outcome::Close => Action::Close,
            // Not one of BFE's actions: the chain goes on as the continuation says.
            Outcome::Wait => Action::GoOn,
        }
    }
}

/// What a handler at ReadResponse or ResponseBody returns: an [`Action`], with the
/// redirect's target inside its `Redirect`, so that "Redirect without a URL" cannot be
/// written.
///
/// ```
/// use hookgate_plugin_api::{Action, Redirect, ResponseOutcome};
/// let out = ResponseOutcome::Redirect(Redirect::to("/maintenance").status(307));
/// assert_eq!(out.action(), Action::Redirect);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseOutcome {
    /// Go on to the next handler, then send the response.
    GoOn,
    /// Send this redirect instead of the response.
    Redirect(crate::Redirect),
    /// Send the response, then close the connection.
    Finish,
    /// BFE's Response: ignored at these points (the chain stops, the response is sent).
    Response,
    /// BFE's Close: ignored at these points (the chain stops, the response is sent).
    Close,
}

impl ResponseOutcome {
    /// The BFE return value this outcome stands for.
    ///
    /// ```
    /// # use hookgate_plugin_api::{Action, ResponseOutcome};
    /// assert_eq!(ResponseOutcome::Finish.action(), Action::Finish);
    /// ```
    pub fn action(&self) -> Action {
        match self {
            ResponseOutcome::GoOn => Action::GoOn,
            ResponseOutcome::Redirect(_) => Action::Redirect,
            ResponseOutcome::Finish => Action::Finish,
            ResponseOutcome::Response => Action::Response,
            ResponseOutcome::Close => Action::Close,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_is_bfe_s() {
        let numbers: Vec<u8> = Action::ALL.iter().map(|a| *a as u8).collect();
        assert_eq!(numbers, [0, 1, 2, 3, 4]);
        for a in Action::ALL {
            assert_eq!(Action::from_u8(a as u8), Some(a));
        }
    }
}
