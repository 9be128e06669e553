//! [`ProductRoutes`]: a product's ordered route rules → cluster.

use std::collections::HashMap;
use std::sync::Arc;

use http::header::{HeaderMap, HeaderName};
use http::Method;

use crate::config::{ProductConfig, RouteRule};

/// A product and its route rules, in config order.
#[derive(Debug)]
pub struct ProductRoutes {
    /// The product's name.
    pub name: Arc<str>,
    /// Rules in config order; the first that matches wins.
    rules: Vec<Rule>,
    /// `max_body_bytes` of the product, overriding the server's (0 = unlimited).
    pub max_body_bytes: Option<u64>,
}

impl ProductRoutes {
    /// Builds a product's rules; `cluster_names` shares one `Arc` per cluster name.
    pub(super) fn new<'c>(
        name: &str,
        config: &'c ProductConfig,
        cluster_names: &mut HashMap<&'c str, Arc<str>>,
    ) -> ProductRoutes {
        let rules = config
            .routes
            .iter()
            .map(|rule| {
                let cluster = cluster_names
                    .entry(rule.cluster.as_str())
                    .or_insert_with(|| Arc::from(rule.cluster.as_str()))
                    .clone();
                Rule::new(name, rule, cluster)
            })
            .collect();
        ProductRoutes {
            name: Arc::from(name),
            rules,
            max_body_bytes: config.max_body_bytes,
        }
    }

    /// The cluster of the first rule whose conditions all hold; a rule without
    /// conditions matches every request. `host` is lowercase without port.
    ///
    /// Conditions: `host` equals (lowercased in the config), `path` equals,
    /// `path_prefix`, `method` equals (case-sensitive), and `header`: any of the
    /// header's values equals the configured one exactly (the name is
    /// case-insensitive).
    pub fn cluster(
        &self,
        method: &Method,
        host: &str,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<&Arc<str>> {
        self.rules
            .iter()
            .find(|rule| rule.matches(method, host, path, headers))
            .map(|rule| &rule.cluster)
    }
}

/// One rule with its conditions parsed once. Each `Option` is a condition that is
/// absent or must hold.
#[derive(Debug)]
struct Rule {
    method: Option<Condition<Method>>,
    path: Option<Box<str>>,
    path_prefix: Option<Box<str>>,
    /// Lowercase.
    host: Option<Box<str>>,
    header: Option<Condition<(HeaderName, Box<str>)>>,
    cluster: Arc<str>,
}

/// A condition on a method or header name, which must parse. One that does not can
/// never hold: no request carries an invalid method or header name.
#[derive(Debug)]
enum Condition<T> {
    Equals(T),
    Never,
}

impl Rule {
    fn new(product: &str, rule: &RouteRule, cluster: Arc<str>) -> Rule {
        let never = |what: &str, value: &str| {
            tracing::warn!(
                product,
                cluster = %cluster,
                "route rule {what} `{value}` is not valid HTTP; the rule never matches"
            );
        };
        let method = rule
            .method
            .as_deref()
            .map(|m| match Method::from_bytes(m.as_bytes()) {
                Ok(method) => Condition::Equals(method),
                Err(_) => {
                    never("method", m);
                    Condition::Never
                }
            });
        let header =
            rule.header
                .as_ref()
                .map(|h| match HeaderName::from_bytes(h.name.as_bytes()) {
                    Ok(name) => Condition::Equals((name, Box::from(h.value.as_str()))),
                    Err(_) => {
                        never("header name", &h.name);
                        Condition::Never
                    }
                });
        Rule {
            method,
            path: rule.path.as_deref().map(Box::from),
            path_prefix: rule.path_prefix.as_deref().map(Box::from),
            host: rule
                .host
                .as_deref()
                .map(|h| h.to_ascii_lowercase().into_boxed_str()),
            header,
            cluster,
        }
    }

    /// Whether every condition holds; the cheapest are tried first.
    fn matches(&self, method: &Method, host: &str, path: &str, headers: &HeaderMap) -> bool {
        let method_ok = match &self.method {
            None => true,
            Some(Condition::Equals(m)) => m == method,
            Some(Condition::Never) => false,
        };
        method_ok
            && self.path.as_deref().is_none_or(|p| p == path)
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.starts_with(p))
            && self.host.as_deref().is_none_or(|h| h == host)
            && match &self.header {
                None => true,
                Some(Condition::Equals((name, value))) => headers
                    .get_all(name)
                    .iter()
                    .any(|v| v.as_bytes() == value.as_bytes()),
                Some(Condition::Never) => false,
            }
    }
}
