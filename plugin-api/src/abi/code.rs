//! The SDK's enums as they cross the ABI: their numbers, in `#[repr(transparent)]`
//! wrappers of `u8`.
//!
//! Internal: abi_stable checks an exhaustive enum's variant count exactly, so a host
//! that added an [`Action`] or a point would refuse every older plugin. A number has
//! no variant count: a later version adds a value (a "wait" action, a timer point)
//! and the side that does not know it treats it as an error it can report (an unknown
//! action is a plugin error; a handler at an unknown point fails init).

use abi_stable::StableAbi;

use crate::{Action, OverLimit, Point};

/// An [`Action`]'s number (BFE's: Finish 0, GoOn 1, Redirect 2, Response 3, Close 4).
///
/// ```
/// use hookgate_plugin_api::abi::ActionCode;
/// use hookgate_plugin_api::Action;
/// assert_eq!(ActionCode::from(Action::GoOn), ActionCode::GO_ON);
/// assert_eq!(ActionCode(7).action(), None);
/// ```
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ActionCode(pub u8);

impl ActionCode {
    /// GoOn's number: the common case, compared without decoding.
    pub const GO_ON: ActionCode = ActionCode(Action::GoOn as u8);
    /// 0.2.2: the handler waits for its callouts ([`Outcome::Wait`](crate::Outcome::Wait));
    /// not an [`Action`] (BFE has five), so [`action`](Self::action) gives `None`.
    pub const WAIT: ActionCode = ActionCode(5);

    /// The action, if this version knows the number.
    #[inline]
    pub fn action(self) -> Option<Action> {
        Action::from_u8(self.0)
    }
}

impl From<Action> for ActionCode {
    #[inline]
    fn from(action: Action) -> ActionCode {
        ActionCode(action as u8)
    }
}

/// A [`Point`]'s number (BFE's nine 0 to 8, the body points 9 and 10).
///
/// ```
/// use hookgate_plugin_api::abi::PointCode;
/// use hookgate_plugin_api::Point;
/// assert_eq!(PointCode::from(Point::Forward).point(), Some(Point::Forward));
/// assert_eq!(PointCode(40).point(), None);
/// ```
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PointCode(pub u8);

impl PointCode {
    /// The point, if this version knows the number.
    pub fn point(self) -> Option<Point> {
        Point::ALL.into_iter().find(|p| *p as u8 == self.0)
    }
}

impl<P: Into<Point>> From<P> for PointCode {
    fn from(point: P) -> PointCode {
        PointCode(point.into() as u8)
    }
}

/// An [`OverLimit`]'s number (Skip 0, Reject 1).
///
/// ```
/// use hookgate_plugin_api::abi::OverLimitCode;
/// use hookgate_plugin_api::OverLimit;
/// assert_eq!(OverLimitCode::from(OverLimit::Reject).over_limit(), Some(OverLimit::Reject));
/// assert_eq!(OverLimitCode(9).over_limit(), None);
/// ```
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OverLimitCode(pub u8);

impl OverLimitCode {
    /// The choice, if this version knows the number.
    pub fn over_limit(self) -> Option<OverLimit> {
        match self.0 {
            0 => Some(OverLimit::Skip),
            1 => Some(OverLimit::Reject),
            _ => None,
        }
    }
}

impl From<OverLimit> for OverLimitCode {
    fn from(over_limit: OverLimit) -> OverLimitCode {
        OverLimitCode(over_limit as u8)
    }
}
