//! [`Redirect`]: where a request-point handler sends the client, carried by
//! [`Outcome::Redirect`](crate::Outcome::Redirect) so that a Redirect without a target
//! cannot be written.

/// A redirect: the target (an absolute URL, or a path resolved against the request's),
/// the status (302 unless set) and extra headers.
///
/// ```
/// use hookgate_plugin_api::{Outcome, Redirect};
///
/// let out = Outcome::Redirect(Redirect::to("/new").status(301).header("x-why", "moved"));
/// let Outcome::Redirect(redirect) = out else { unreachable!() };
/// assert_eq!((redirect.url(), redirect.code()), ("/new", 301));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    url: String,
    code: u16,
    headers: Vec<(String, String)>,
}

impl Redirect {
    /// A 302 redirect to `url`.
    pub fn to(url: &str) -> Redirect {
        Redirect {
            url: url.to_owned(),
            code: 302,
            headers: Vec::new(),
        }
    }

    /// With this status (301, 302, 303, 307 or 308; the host answers others with 302).
    pub fn status(mut self, code: u16) -> Redirect {
        self.code = code;
        self
    }

    /// With this header on the redirect response too.
    pub fn header(mut self, name: &str, value: &str) -> Redirect {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The target.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The status.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The extra headers.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
}
