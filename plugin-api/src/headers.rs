//! Borrowing iterators over a request's or response's headers.

/// Internal: what the request and response views have in common, so one iterator
/// serves both.
pub(crate) trait HeaderSource {
    fn count(&self) -> usize;
    fn at(&self, index: usize) -> Option<(&str, &[u8])>;
    fn value_at(&self, name: &str, index: usize) -> Option<&[u8]>;
}

/// All headers of a request or response, in order, as `(name, value)`; names are
/// lowercase. Values that are not UTF-8 are skipped.
///
/// ```
/// use hookgate_plugin_api::Request;
/// fn cookie_headers(req: &Request<'_>) -> usize {
///     req.headers().filter(|(name, _)| *name == "cookie").count()
/// }
/// ```
pub struct Headers<'r> {
    pub(crate) source: &'r dyn HeaderSource,
    pub(crate) index: usize,
}

impl<'r> Iterator for Headers<'r> {
    type Item = (&'r str, &'r str);

    fn next(&mut self) -> Option<Self::Item> {
        while self.index < self.source.count() {
            let at = self.source.at(self.index);
            self.index += 1;
            if let Some((name, value)) = at {
                if let Ok(value) = std::str::from_utf8(value) {
                    return Some((name, value));
                }
            }
        }
        None
    }
}

/// All values of one header, in order. Values that are not UTF-8 are skipped.
///
/// ```
/// use hookgate_plugin_api::Request;
/// fn forwarded_hops(req: &Request<'_>) -> usize {
///     req.header_all("x-forwarded-for").flat_map(|v| v.split(',')).count()
/// }
/// ```
pub struct HeaderValues<'r, 'n> {
    pub(crate) source: &'r dyn HeaderSource,
    pub(crate) name: &'n str,
    pub(crate) index: usize,
}

impl<'r> Iterator for HeaderValues<'r, '_> {
    type Item = &'r str;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let value = self.source.value_at(self.name, self.index)?;
            self.index += 1;
            if let Ok(value) = std::str::from_utf8(value) {
                return Some(value);
            }
        }
    }
}

/// Implements [`HeaderSource`] for a view type whose header methods follow the ABI.
macro_rules! header_source {
    ($view:ty) => {
        impl $crate::headers::HeaderSource for $view {
            fn count(&self) -> usize {
                self.header_count()
            }
            fn at(&self, index: usize) -> Option<(&str, &[u8])> {
                self.header_at(index)
                    .into_option()
                    .map(|t| (t.0.as_str(), t.1.as_slice()))
            }
            fn value_at(&self, name: &str, index: usize) -> Option<&[u8]> {
                self.header_value_at(name.into(), index)
                    .into_option()
                    .map(|v| v.as_slice())
            }
        }
    };
}
pub(crate) use header_source;
