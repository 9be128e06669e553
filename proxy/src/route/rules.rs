//! [`ProductRoutes`]: a product's ordered route rules → cluster.

use std::collections::HashMap;
use std::sync::Arc;

use hookgate_plugin_kit::{Condition, Facts};

use crate::config::{ProductConfig, RouteRule};
use crate::serve::compress::Compress;

/// A product and its route rules, in config order.
#[derive(Debug)]
pub struct ProductRoutes {
    /// The product's name.
    pub name: Arc<str>,
    /// Rules in config order; the first that matches wins.
    rules: Vec<Rule>,
    /// `max_body_bytes` of the product, overriding the server's (0 = unlimited).
    pub max_body_bytes: Option<u64>,
    /// The product's response compression, if any.
    pub compress: Option<Arc<Compress>>,
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
            compress: config.compress.as_ref().map(|c| Arc::new(Compress::new(c))),
        }
    }

    /// The cluster of the first rule whose condition holds for `facts`; a rule
    /// without conditions matches every request. Conditions are the plugin kit's (BFE's
    /// condition language): the table keys `host`, `path`, `path_prefix`, `method`,
    /// `header` and an expression in `cond`, all of which must hold.
    pub fn cluster<F: Facts + ?Sized>(&self, facts: &F) -> Option<&Arc<str>> {
        self.rules
            .iter()
            .find(|rule| rule.condition.matches(facts))
            .map(|rule| &rule.cluster)
    }
}

/// One rule with its condition compiled once.
#[derive(Debug)]
struct Rule {
    condition: Condition,
    cluster: Arc<str>,
}

impl Rule {
    fn new(product: &str, rule: &RouteRule, cluster: Arc<str>) -> Rule {
        let condition = rule.condition().unwrap_or_else(|error| {
            // `check` refuses such a config; a table built without it gets a rule
            // that never matches rather than one that matches everything.
            tracing::warn!(product, cluster = %cluster, %error, "route rule condition is invalid; the rule never matches");
            Condition::parse("!default_t()").unwrap_or_default()
        });
        Rule { condition, cluster }
    }
}
