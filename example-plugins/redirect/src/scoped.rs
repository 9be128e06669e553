//! [`Scoped`]: rules keyed as BFE keys them, `[global]` first, then
//! `[products.<name>]`.

use std::collections::BTreeMap;

/// Rules of one kind, ready for the request path.
#[derive(Debug)]
pub struct Scoped<R> {
    global: Vec<R>,
    /// Looked up on every request: a few string comparisons in a B-tree cost less
    /// than hashing the name.
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
                .map(|(name, rules)| Ok((name.clone(), section(product_key(&name), rules)?)))
                .collect::<Result<_, String>>()?,
        })
    }

    /// The rules for a request of `product`, in order: the global ones, then the
    /// product's own.
    pub fn for_product<'a>(&'a self, product: &str) -> impl Iterator<Item = &'a R> + use<'a, R> {
        let own = self.products.get(product).map_or(&[][..], Vec::as_slice);
        self.global.iter().chain(own)
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
