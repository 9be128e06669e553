//! The callback points (BFE's nine, and the two body points), grouped by the handler
//! type they take.

use std::fmt;

use abi_stable::StableAbi;

/// A callback point, in the order a connection and its requests pass them. See
/// [the callback contract](crate#the-callback-contract).
///
/// ```
/// use hookgate_plugin_api::{HandlerKind, Point};
/// assert_eq!(Point::ALL.len(), 11);
/// assert_eq!(Point::Forward.kind(), HandlerKind::Forward);
/// assert_eq!("found_product".parse(), Ok(Point::FoundProduct));
/// ```
///
/// The numbers of BFE's nine points are 0 to 8 in their order; the two body points,
/// which run only for the plugins that ask for a body, are 9 and 10. [`Point::ALL`]
/// lists all eleven in the order a request passes them.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Point {
    /// After the TCP connection is accepted, before any TLS handshake.
    Accept = 0,
    /// After a successful TLS handshake.
    Handshake = 1,
    /// Before the product is identified.
    BeforeLocation = 2,
    /// After the product is identified.
    FoundProduct = 3,
    /// After the cluster is identified.
    AfterLocation = 4,
    /// After subcluster and backend are chosen, before each attempt is sent.
    Forward = 5,
    /// After a response is obtained, before it is sent.
    ReadResponse = 6,
    /// After the response was sent (or sending failed).
    RequestFinish = 7,
    /// After the client connection is closed.
    Finish = 8,
    /// After AfterLocation, once the request body is read, for the plugins that asked
    /// for it ([`Request::want_body`](crate::Request::want_body)).
    RequestBody = 9,
    /// After ReadResponse, once the response body is read, for the plugins that asked
    /// for it ([`Response::want_body`](crate::Response::want_body)).
    ResponseBody = 10,
}

/// The five handler types (BFE's HandlersAccept … HandlersFinish).
///
/// ```
/// # use hookgate_plugin_api::{HandlerKind, Point};
/// assert_eq!(Point::Handshake.kind(), HandlerKind::Accept);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandlerKind {
    /// `(&mut Session) -> Action`, at Accept and Handshake.
    Accept,
    /// `(&mut Request) -> Outcome`, at BeforeLocation, FoundProduct, AfterLocation
    /// and RequestBody.
    Request,
    /// `(&mut Request) -> Action`, at Forward.
    Forward,
    /// `(&mut Request, response) -> Action`, at ReadResponse, ResponseBody and
    /// RequestFinish.
    Response,
    /// `(&mut Session) -> Action`, at Finish.
    Finish,
}

impl Point {
    /// All points, in the order a connection and its requests pass them.
    pub const ALL: [Point; 11] = [
        Point::Accept,
        Point::Handshake,
        Point::BeforeLocation,
        Point::FoundProduct,
        Point::AfterLocation,
        Point::RequestBody,
        Point::Forward,
        Point::ReadResponse,
        Point::ResponseBody,
        Point::RequestFinish,
        Point::Finish,
    ];

    /// The handler type this point takes.
    ///
    /// ```
    /// # use hookgate_plugin_api::{HandlerKind, Point};
    /// assert_eq!(Point::RequestFinish.kind(), HandlerKind::Response);
    /// ```
    pub fn kind(self) -> HandlerKind {
        match self {
            Point::Accept | Point::Handshake => HandlerKind::Accept,
            Point::BeforeLocation
            | Point::FoundProduct
            | Point::AfterLocation
            | Point::RequestBody => HandlerKind::Request,
            Point::Forward => HandlerKind::Forward,
            Point::ReadResponse | Point::ResponseBody | Point::RequestFinish => {
                HandlerKind::Response
            }
            Point::Finish => HandlerKind::Finish,
        }
    }

    /// The snake_case name used in configs, logs and `hookgate check`.
    ///
    /// ```
    /// # use hookgate_plugin_api::Point;
    /// assert_eq!(Point::BeforeLocation.name(), "before_location");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Point::Accept => "accept",
            Point::Handshake => "handshake",
            Point::BeforeLocation => "before_location",
            Point::FoundProduct => "found_product",
            Point::AfterLocation => "after_location",
            Point::Forward => "forward",
            Point::ReadResponse => "read_response",
            Point::RequestFinish => "request_finish",
            Point::Finish => "finish",
            Point::RequestBody => "request_body",
            Point::ResponseBody => "response_body",
        }
    }

    /// Whether handlers at this point may be scoped to products (the product is known
    /// there): all but Accept, Handshake, BeforeLocation and Finish.
    ///
    /// ```
    /// # use hookgate_plugin_api::Point;
    /// assert!(Point::FoundProduct.is_product_scoped());
    /// assert!(!Point::BeforeLocation.is_product_scoped());
    /// ```
    pub fn is_product_scoped(self) -> bool {
        !matches!(
            self,
            Point::Accept | Point::Handshake | Point::BeforeLocation | Point::Finish
        )
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a [`Point`] name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownPoint(pub String);

impl fmt::Display for UnknownPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown callback point `{}`, expected one of: ", self.0)?;
        let names: Vec<&str> = Point::ALL.iter().map(|p| p.name()).collect();
        f.write_str(&names.join(", "))
    }
}

impl std::error::Error for UnknownPoint {}

impl std::str::FromStr for Point {
    type Err = UnknownPoint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Point::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownPoint(s.to_owned()))
    }
}

/// The points of the accept handler type.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AcceptPoint {
    /// [`Point::Accept`].
    Accept = 0,
    /// [`Point::Handshake`].
    Handshake = 1,
}

/// The points of the request handler type.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestPoint {
    /// [`Point::BeforeLocation`].
    BeforeLocation = 2,
    /// [`Point::FoundProduct`].
    FoundProduct = 3,
    /// [`Point::AfterLocation`].
    AfterLocation = 4,
    /// [`Point::RequestBody`].
    RequestBody = 9,
}

/// The points of the response handler type.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponsePoint {
    /// [`Point::ReadResponse`].
    ReadResponse = 6,
    /// [`Point::RequestFinish`].
    RequestFinish = 7,
    /// [`Point::ResponseBody`].
    ResponseBody = 10,
}

macro_rules! into_point {
    ($($ty:ident { $($variant:ident),* })*) => {$(
        impl From<$ty> for Point {
            fn from(p: $ty) -> Point {
                match p { $($ty::$variant => Point::$variant),* }
            }
        }

        impl TryFrom<Point> for $ty {
            type Error = Point;

            /// The typed point, if `p` takes this handler type; else `p` back.
            fn try_from(p: Point) -> Result<$ty, Point> {
                match p { $(Point::$variant => Ok($ty::$variant),)* _ => Err(p) }
            }
        }
    )*};
}

into_point! {
    AcceptPoint { Accept, Handshake }
    RequestPoint { BeforeLocation, FoundProduct, AfterLocation, RequestBody }
    ResponsePoint { ReadResponse, RequestFinish, ResponseBody }
}

/// A set of points, as declared in a plugin's manifest.
///
/// ```
/// use hookgate_plugin_api::{Point, PointSet};
/// let set = PointSet::EMPTY.with(Point::Accept).with(Point::Finish);
/// assert!(set.contains(Point::Finish));
/// assert_eq!(set.iter().collect::<Vec<_>>(), [Point::Accept, Point::Finish]);
/// ```
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PointSet(u16);

impl PointSet {
    /// No point.
    pub const EMPTY: PointSet = PointSet(0);

    /// This set and `point`.
    pub const fn with(self, point: Point) -> PointSet {
        PointSet(self.0 | 1 << point as u8)
    }

    /// Whether `point` is in the set.
    pub const fn contains(self, point: Point) -> bool {
        self.0 & (1 << point as u8) != 0
    }

    /// The points of the set, in order.
    pub fn iter(self) -> impl Iterator<Item = Point> {
        Point::ALL.into_iter().filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Point> for PointSet {
    fn from_iter<I: IntoIterator<Item = Point>>(iter: I) -> Self {
        iter.into_iter().fold(PointSet::EMPTY, PointSet::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Point::ALL {
            assert_eq!(p.name().parse(), Ok(p));
        }
        let err = "nope".parse::<Point>().unwrap_err().to_string();
        assert!(err.contains("before_location"), "{err}");
    }

    #[test]
    fn typed_points_map_to_their_point() {
        assert_eq!(Point::from(AcceptPoint::Handshake), Point::Handshake);
        assert_eq!(
            Point::from(RequestPoint::AfterLocation),
            Point::AfterLocation
        );
        assert_eq!(
            Point::from(ResponsePoint::ReadResponse),
            Point::ReadResponse
        );
        for p in [RequestPoint::BeforeLocation, RequestPoint::FoundProduct] {
            assert_eq!(Point::from(p).kind(), HandlerKind::Request);
        }
    }

    #[test]
    fn point_set_holds_all_eleven() {
        let all: PointSet = Point::ALL.into_iter().collect();
        assert_eq!(all.iter().count(), 11);
    }
}
