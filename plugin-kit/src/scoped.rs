//! [`ScopedRules`]: rules under `[global]` and `[products.<name>]`, as BFE's module
//! configs lay them out; a product sees the global rules first, then its own.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ConfigError;

/// Rules of type `R` for every product, deserialised from
///
/// ```toml
/// [global]
/// rules = [ ... ]
///
/// [products.shop]
/// rules = [ ... ]
/// ```
///
/// Both sections are optional, and so is `rules` in each; no other key is accepted.
#[derive(Clone, Debug, PartialEq)]
pub struct ScopedRules<R> {
    global: Vec<R>,
    products: BTreeMap<String, Vec<R>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound(deserialize = "R: Deserialize<'de>"))]
struct Document<R> {
    #[serde(default)]
    global: Section<R>,
    #[serde(default)]
    products: BTreeMap<String, Section<R>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound(deserialize = "R: Deserialize<'de>"))]
struct Section<R> {
    #[serde(default = "Vec::new")]
    rules: Vec<R>,
}

impl<R> Default for Section<R> {
    fn default() -> Section<R> {
        Section { rules: Vec::new() }
    }
}

impl<R> Default for ScopedRules<R> {
    fn default() -> ScopedRules<R> {
        ScopedRules {
            global: Vec::new(),
            products: BTreeMap::new(),
        }
    }
}

impl<'de, R: Deserialize<'de>> Deserialize<'de> for ScopedRules<R> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let document = Document::<R>::deserialize(deserializer)?;
        Ok(ScopedRules {
            global: document.global.rules,
            products: document
                .products
                .into_iter()
                .map(|(name, section)| (name, section.rules))
                .collect(),
        })
    }
}

impl<R: for<'de> Deserialize<'de>> ScopedRules<R> {
    /// Parses a rule file; the error names the key path that failed, e.g.
    /// `products.shop.rules[1].cond: column 9: expected ')' or ','`.
    pub fn from_toml(text: &str) -> Result<ScopedRules<R>, ConfigError> {
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| ConfigError::new("", e.to_string()))?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            // toml's message may carry a source excerpt over several lines; the first
            // line is the reason.
            let message = e.inner().message().to_owned();
            ConfigError::new(key, message)
        })
    }
}

impl<R> ScopedRules<R> {
    /// The rules that apply to `product`: the global ones, then the product's own.
    pub fn rules_for<'a>(&'a self, product: &str) -> impl Iterator<Item = &'a R> + use<'a, R> {
        let own = self.products.get(product).map(Vec::as_slice).unwrap_or(&[]);
        self.global.iter().chain(own.iter())
    }

    /// The `[global]` rules.
    pub fn global(&self) -> &[R] {
        &self.global
    }

    /// The products that have a section, in name order.
    pub fn products(&self) -> impl Iterator<Item = &str> {
        self.products.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests;
