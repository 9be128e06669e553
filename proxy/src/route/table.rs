//! [`RouteTable`]: host → product.

use std::collections::HashMap;
use std::sync::Arc;

use super::rules::ProductRoutes;
use crate::config::Config;

/// Which product serves a host: exact hosts first, then the longest `*.suffix`
/// wildcard, then the default product.
#[derive(Debug)]
pub struct RouteTable {
    /// Products in config order; the maps below index into it.
    products: Vec<ProductRoutes>,
    /// Lowercase exact hosts.
    exact: HashMap<Box<str>, usize>,
    /// Lowercase wildcard suffixes without the `*.`: `*.shop.example.com` is stored as
    /// `shop.example.com`, so a lookup can probe each suffix of the host that starts
    /// after one of its dots, as a borrowed slice of the host.
    wildcards: HashMap<Box<str>, usize>,
    /// `default_product`.
    default: Option<usize>,
}

impl RouteTable {
    /// Builds the table from a validated config (its products and `default_product`).
    ///
    /// A host listed by two products goes to the first in config order; the clash is
    /// logged.
    pub fn new(config: &Config) -> RouteTable {
        // Internal: one `Arc` per cluster name, shared by every rule that names it.
        let mut cluster_names: HashMap<&str, Arc<str>> = HashMap::new();
        let mut products = Vec::with_capacity(config.products.len());
        let mut exact = HashMap::new();
        let mut wildcards = HashMap::new();
        let mut default = None;
        for (index, (name, product)) in config.products.iter().enumerate() {
            if config.default_product.as_deref() == Some(name.as_str()) {
                default = Some(index);
            }
            for host in &product.hosts {
                // Routing ignores a trailing dot, in the config as in requests.
                let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
                let (map, key) = match host.strip_prefix("*.") {
                    Some(suffix) => (&mut wildcards, suffix.to_owned()),
                    None => (&mut exact, host.clone()),
                };
                if let Some(&first) = map.get(key.as_str()) {
                    let first: &ProductRoutes = &products[first];
                    tracing::warn!(
                        host = %host,
                        product = %name,
                        kept = %first.name,
                        "host listed by two products; the first keeps it"
                    );
                    continue;
                }
                map.insert(key.into_boxed_str(), index);
            }
            products.push(ProductRoutes::new(name, product, &mut cluster_names));
        }
        RouteTable {
            products,
            exact,
            wildcards,
            default,
        }
    }

    /// The product serving `host` (already lowercase, without port): the exact host,
    /// else the longest `*.suffix` wildcard that leaves at least one label in front
    /// (`*.shop.example.com` matches `a.shop.example.com` and `a.b.shop.example.com`,
    /// not `shop.example.com`), else the default product; `None` without a default.
    pub fn product(&self, host: &str) -> Option<&ProductRoutes> {
        let index = self
            .exact
            .get(host)
            .or_else(|| self.wildcard(host))
            .copied()
            .or(self.default)?;
        self.products.get(index)
    }

    /// Every product, in config order.
    pub fn products(&self) -> impl Iterator<Item = &ProductRoutes> {
        self.products.iter()
    }

    /// The longest wildcard suffix of `host`: suffixes are probed from the left, so
    /// the first hit is the longest. Each probe is a slice of `host` after a dot, so
    /// the suffix always leaves a label in front.
    fn wildcard(&self, host: &str) -> Option<&usize> {
        if self.wildcards.is_empty() {
            return None;
        }
        host.match_indices('.')
            .find_map(|(dot, _)| self.wildcards.get(&host[dot + 1..]))
    }
}
