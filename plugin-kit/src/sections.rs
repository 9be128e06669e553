//! [`Sections`]: a plugin's settings or rules under `[global]` and
//! `[products.<name>]`, as BFE's module configs lay them out.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::config::{self, config_key, deserialize_at};
use crate::{ConfigError, ScopedRules};

/// One section of type `S` for `[global]` and for each `[products.<name>]`, from
///
/// ```toml
/// [global]
/// index = "index.html"
///
/// [products.shop]
/// root = "/srv/shop"
/// ```
///
/// No other top-level key is accepted; both parts are optional (an absent
/// `[global]` reads as an empty table). Two readings:
///
/// - [`from_toml`](Sections::from_toml): each section stands alone (rule lists,
///   which [`rules`](Sections::rules) then chains global-first);
/// - [`layered`](Sections::layered): a product's section is `[global]` with the
///   product's own keys put over it, key by key (settings).
///
/// Errors name the key path that failed: `global.index`, `products.shop.root`. In a
/// layered file `[global]` must parse alone, so keys that products need give `S` an
/// `Option` (or a default) and [`require`](Sections::require) checks them.
///
/// ```
/// use hookgate_plugin_kit::Sections;
///
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Site {
///     root: Option<String>,
///     #[serde(default)]
///     index: Option<String>,
/// }
/// let sites = Sections::<Site>::layered(
///     "[global]\nindex = \"home.html\"\n[products.shop]\nroot = \"/srv/shop\"\n",
/// )?;
/// let shop = sites.for_product("shop");
/// assert_eq!(shop.root.as_deref(), Some("/srv/shop"));
/// assert_eq!(shop.index.as_deref(), Some("home.html"));
/// assert!(sites.for_product("blog").root.is_none());
/// sites.require("root", |site| site.root.is_some())?;
/// # Ok::<(), hookgate_plugin_kit::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Sections<S> {
    global: S,
    products: BTreeMap<String, S>,
    /// The names of the two parts (`global`, `products`), for errors.
    names: [String; 2],
}

impl<S: DeserializeOwned> Sections<S> {
    /// Parses a config file whose sections stand alone.
    pub fn from_toml(text: &str) -> Result<Sections<S>, ConfigError> {
        Sections::read(text, ["global", "products"], false)
    }

    /// Parses a config file whose product sections take the global keys they leave
    /// out.
    pub fn layered(text: &str) -> Result<Sections<S>, ConfigError> {
        Sections::read(text, ["global", "products"], true)
    }

    /// [`layered`](Sections::layered) with other names for the two parts, for
    /// sections that are not products: `[default]` and `[listeners."<address>"]`.
    ///
    /// ```
    /// use hookgate_plugin_kit::Sections;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Policy {
    ///     min_version: Option<String>,
    /// }
    /// let text = "[default]\nmin_version = \"1.2\"\n[listeners.\"127.0.0.1:8443\"]\n";
    /// let policies = Sections::<Policy>::layered_as(text, "default", "listeners")?;
    /// let listener = policies.for_product("127.0.0.1:8443");
    /// assert_eq!(listener.min_version.as_deref(), Some("1.2"));
    /// # Ok::<(), hookgate_plugin_kit::ConfigError>(())
    /// ```
    pub fn layered_as(text: &str, global: &str, each: &str) -> Result<Sections<S>, ConfigError> {
        Sections::read(text, [global, each], true)
    }

    fn read(text: &str, names: [&str; 2], layered: bool) -> Result<Sections<S>, ConfigError> {
        let [global_name, each_name] = names;
        let mut doc = config::parse(text)?;
        let table = |doc: &mut toml::Table, key: &str| match doc.remove(key) {
            None => Ok(toml::Table::new()),
            Some(toml::Value::Table(table)) => Ok(table),
            Some(_) => Err(ConfigError::new(key, "expected a table")),
        };
        let global_table = table(&mut doc, global_name)?;
        let products_table = table(&mut doc, each_name)?;
        if let Some(key) = doc.keys().next() {
            let message =
                format!("unknown field `{key}`, expected `{global_name}` or `{each_name}`");
            return Err(ConfigError::new(config_key("", key), message));
        }
        let global = deserialize_at(global_table.clone().into(), global_name)?;
        let mut products = BTreeMap::new();
        for (name, section) in products_table {
            let at = config_key(each_name, &name);
            let toml::Value::Table(own) = section else {
                return Err(ConfigError::new(at, "expected a table"));
            };
            let section = if layered {
                // `[global]` alone parsed, so a key it set cannot fail here: a failing
                // key is the product's, or a combination, named by the section.
                let mut merged = global_table.clone();
                merged.extend(own);
                deserialize_at(merged.into(), &at)?
            } else {
                deserialize_at(own.into(), &at)?
            };
            products.insert(name, section);
        }
        let names = names.map(str::to_owned);
        Ok(Sections {
            global,
            products,
            names,
        })
    }
}

impl<S> Sections<S> {
    /// The section for `product`: its own, else `[global]`.
    pub fn for_product(&self, product: &str) -> &S {
        self.products.get(product).unwrap_or(&self.global)
    }

    /// The `[global]` section.
    pub fn global(&self) -> &S {
        &self.global
    }

    /// The products that have a section, with it, in name order.
    pub fn products(&self) -> impl Iterator<Item = (&str, &S)> {
        self.products.iter().map(|(name, s)| (name.as_str(), s))
    }

    /// Checks that every product section has `key`, as `present` tells; the error
    /// reads `products.shop.root: missing (and no global.root)`.
    pub fn require(&self, key: &str, present: impl Fn(&S) -> bool) -> Result<(), ConfigError> {
        match self.products().find(|(_, section)| !present(section)) {
            Some((name, _)) => Err(ConfigError::new(
                config_key(&config_key(&self.names[1], name), key),
                format!("missing (and no {})", config_key(&self.names[0], key)),
            )),
            None => Ok(()),
        }
    }

    /// One list of rules from every section, as [`ScopedRules`]: `pick` takes it out of
    /// a section (a section may hold several lists).
    pub fn rules<R>(&mut self, mut pick: impl FnMut(&mut S) -> Vec<R>) -> ScopedRules<R> {
        let products = (self.products.iter_mut())
            .map(|(name, section)| (name.clone(), pick(section)))
            .collect();
        ScopedRules::new(pick(&mut self.global), products)
    }
}

#[cfg(test)]
mod tests;
