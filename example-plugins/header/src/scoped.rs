//! [`Scoped`]: rules keyed as BFE keys them, `[global]` first, then
//! `[products.<name>]`.

use std::collections::BTreeMap;

use hookgate_plugin_api::Request;

/// Rules of one kind, ready for the request path.
#[derive(Debug)]
pub struct Scoped<R> {
    global: Vec<R>,
    /// Only products with rules of their own. A `BTreeMap` because a lookup then costs
    /// a few string comparisons, less than hashing the name with SipHash.
    products: BTreeMap<String, Vec<R>>,
}

impl<R> Scoped<R> {
    /// Compiles every section's `list` of rules (e.g. `rules`) with `compile(rule, key)`,
    /// where `key` is the rule's key path, e.g. `products.shop.rules[1]`.
    pub fn build<T>(
        global: Vec<T>,
        products: BTreeMap<String, Vec<T>>,
        list: &str,
        compile: impl Fn(T, &str) -> Result<R, String>,
    ) -> Result<Scoped<R>, String> {
        let section = |key: String, rules: Vec<T>| {
            (rules.into_iter().enumerate())
                .map(|(i, rule)| compile(rule, &format!("{key}.{list}[{i}]")))
                .collect::<Result<Vec<R>, String>>()
        };
        Ok(Scoped {
            global: section("global".to_owned(), global)?,
            products: (products.into_iter())
                .filter(|(_, rules)| !rules.is_empty())
                .map(|(name, rules)| Ok((name.clone(), section(product_key(&name), rules)?)))
                .collect::<Result<_, String>>()?,
        })
    }

    /// Whether there is no rule at all.
    pub fn is_empty(&self) -> bool {
        self.global.is_empty() && self.products.is_empty()
    }

    /// The rules for `req`, in order: the global ones, then those of its product. The
    /// product is asked for (a call into the host) only if some product has rules.
    pub fn for_request<'a>(
        &'a self,
        req: &Request<'_>,
    ) -> impl Iterator<Item = &'a R> + use<'a, R> {
        let own = if self.products.is_empty() {
            None
        } else {
            self.products.get(req.product())
        };
        self.global.iter().chain(own.map_or(&[][..], Vec::as_slice))
    }
}

/// `products.<name>`, quoted as TOML would need it.
fn product_key(name: &str) -> String {
    let bare = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    if bare && !name.is_empty() {
        format!("products.{name}")
    } else {
        format!("products.{name:?}")
    }
}
