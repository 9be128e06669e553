//! [`ScopedRules`]: rules under `[global]` and `[products.<name>]`, as BFE's module
//! configs lay them out; a product sees the global rules first, then its own.

use std::collections::BTreeMap;

use hookgate_plugin_api::Request;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::{Condition, ConfigError, RequestFacts, Sections};

/// A rule that carries a condition, so that [`ScopedRules::first_match`] can judge
/// it.
///
/// ```
/// use hookgate_plugin_kit::{Condition, Conditional};
///
/// struct Deny {
///     when: Condition,
/// }
/// impl Conditional for Deny {
///     fn condition(&self) -> &Condition {
///         &self.when
///     }
/// }
/// ```
pub trait Conditional {
    /// The condition under which the rule applies.
    fn condition(&self) -> &Condition;
}

/// Rules of type `R` for every product, from
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
/// A file whose sections hold other keys too, or several lists, is read as
/// [`Sections`] and its lists taken out with [`Sections::rules`].
#[derive(Clone, Debug, PartialEq)]
pub struct ScopedRules<R> {
    global: Vec<R>,
    products: BTreeMap<String, Vec<R>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound(deserialize = "R: Deserialize<'de>"))]
struct Section<R> {
    #[serde(default = "Vec::new")]
    rules: Vec<R>,
}

impl<R> Default for ScopedRules<R> {
    fn default() -> ScopedRules<R> {
        ScopedRules::new(Vec::new(), BTreeMap::new())
    }
}

impl<R: DeserializeOwned> ScopedRules<R> {
    /// Parses a rule file; the error names the key path that failed, e.g.
    /// `products.shop.rules[1].cond: column 9: expected ')' or ','`.
    pub fn from_toml(text: &str) -> Result<ScopedRules<R>, ConfigError> {
        let mut sections = Sections::<Section<R>>::from_toml(text)?;
        Ok(sections.rules(|section| std::mem::take(&mut section.rules)))
    }
}

impl<R> ScopedRules<R> {
    pub(crate) fn new(global: Vec<R>, products: BTreeMap<String, Vec<R>>) -> ScopedRules<R> {
        ScopedRules { global, products }
    }

    /// The rules that apply to `product`: the global ones, then the product's own.
    pub fn rules_for<'a>(&'a self, product: &str) -> impl Iterator<Item = &'a R> + use<'a, R> {
        let own = self.products.get(product).map(Vec::as_slice).unwrap_or(&[]);
        self.global.iter().chain(own.iter())
    }

    /// The rules that apply to `req`: [`rules_for`](Self::rules_for) its product,
    /// which is asked of the host only when some product has a section (without one,
    /// every product sees the global rules).
    pub fn rules_for_request<'a>(
        &'a self,
        req: &Request<'_>,
    ) -> impl Iterator<Item = &'a R> + use<'a, R> {
        let product = if self.products.is_empty() {
            ""
        } else {
            req.product()
        };
        self.rules_for(product)
    }

    /// Whether no section has a rule, so that a plugin need not register its handler.
    ///
    /// ```
    /// use hookgate_plugin_kit::ScopedRules;
    ///
    /// let rules = ScopedRules::<u32>::from_toml("[products.shop]\nrules = []\n")?;
    /// assert!(rules.is_empty());
    /// # Ok::<(), hookgate_plugin_kit::ConfigError>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.global.is_empty() && self.products.values().all(Vec::is_empty)
    }

    /// The first rule for `req`'s product whose condition holds, as BFE's modules pick
    /// a rule. The request's facts are read only when the product has rules.
    ///
    /// ```
    /// use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
    /// use hookgate_plugin_api::{Outcome, Registry, Reply};
    /// use hookgate_plugin_kit::{Condition, Conditional, ScopedRules};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Deny {
    ///     when: Condition,
    ///     status: u16,
    /// }
    /// impl Conditional for Deny {
    ///     fn condition(&self) -> &Condition {
    ///         &self.when
    ///     }
    /// }
    ///
    /// fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    ///     let rules = ScopedRules::<Deny>::from_toml(config).map_err(|e| e.to_string())?;
    ///     reg.on_found_product(move |req| match rules.first_match(req) {
    ///         Some(deny) => Outcome::Respond(Reply::new(deny.status)),
    ///         None => Outcome::GoOn,
    ///     });
    ///     Ok(())
    /// }
    ///
    /// let plugin = TestPlugin::init(
    ///     init,
    ///     "[global]\nrules = [{ when = { path_prefix = \"/admin/\" }, status = 404 }]",
    /// )?;
    /// let answer = plugin.found_product(&mut FakeRequest::get("/admin/x"));
    /// assert_eq!(answer, Ok(Outcome::Respond(Reply::new(404))));
    /// # Ok::<(), String>(())
    /// ```
    pub fn first_match(&self, req: &mut Request<'_>) -> Option<&R>
    where
        R: Conditional,
    {
        let mut rules = self.rules_for_request(req).peekable();
        rules.peek()?;
        let facts = RequestFacts::of(req);
        rules.find(|rule| rule.condition().matches(&facts))
    }

    /// The `[global]` rules.
    pub fn global(&self) -> &[R] {
        &self.global
    }

    /// The products that have a section, in name order.
    pub fn products(&self) -> impl Iterator<Item = &str> {
        self.products.keys().map(String::as_str)
    }

    /// Every rule once: `[global]`'s, then each product's in name order (for work a
    /// plugin sets up per rule at init, a timer say).
    ///
    /// ```
    /// use hookgate_plugin_kit::ScopedRules;
    ///
    /// let text = "[global]\nrules = [1]\n[products.b]\nrules = [3]\n[products.a]\nrules = [2]\n";
    /// let rules = ScopedRules::<u32>::from_toml(text)?;
    /// assert_eq!(rules.all().copied().collect::<Vec<_>>(), [1, 2, 3]);
    /// # Ok::<(), hookgate_plugin_kit::ConfigError>(())
    /// ```
    pub fn all(&self) -> impl Iterator<Item = &R> {
        self.global.iter().chain(self.products.values().flatten())
    }
}

#[cfg(test)]
mod tests;
