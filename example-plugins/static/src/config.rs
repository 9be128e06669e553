//! The config: TOML → one [`Site`] per product, checked once at init. Errors name the
//! key (`products.shop.root`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The config file as written.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct File {
    global: Section,
    products: BTreeMap<String, Section>,
}

/// `[global]` or `[products.<name>]`; a product's keys override the global ones.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Section {
    root: Option<PathBuf>,
    prefix: Option<String>,
    index: Option<String>,
}

/// Where one product's files come from.
#[derive(Debug)]
pub(crate) struct Site {
    /// The root directory, canonical, so that a resolved file can be checked to lie
    /// inside it.
    pub(crate) root: PathBuf,
    /// Only paths starting with this are served (`/`: all); it starts and ends with `/`.
    pub(crate) prefix: String,
    /// The file served for a directory.
    pub(crate) index: String,
}

/// The sites, by product.
#[derive(Debug)]
pub(crate) struct Sites {
    /// A `BTreeMap` because a lookup then costs a few string comparisons, less than
    /// hashing the name with SipHash.
    products: BTreeMap<String, Site>,
    /// For products without a section of their own, when `[global]` has a root.
    global: Option<Site>,
}

impl Sites {
    /// Parses and checks the config text.
    pub(crate) fn parse(text: &str) -> Result<Sites, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        let global = match file.global.root {
            Some(_) => Some(site(&file.global, &Section::default(), "global")?),
            None => None,
        };
        let mut products = BTreeMap::new();
        for (name, section) in &file.products {
            let site = site(section, &file.global, &format!("products.{name}"))?;
            products.insert(name.clone(), site);
        }
        Ok(Sites { products, global })
    }

    /// The site serving `product`, if any.
    pub(crate) fn site(&self, product: &str) -> Option<&Site> {
        self.products.get(product).or(self.global.as_ref())
    }
}

/// A product's site: its own keys, else the global ones, else the defaults. `at` is
/// the section's key path, for errors.
fn site(own: &Section, global: &Section, at: &str) -> Result<Site, String> {
    let (root, root_at) = match (&own.root, &global.root) {
        (Some(root), _) => (root, at),
        (None, Some(root)) => (root, "global"),
        (None, None) => return Err(format!("{at}.root: missing (and no global.root)")),
    };
    let root = canonical_dir(root).map_err(|e| format!("{root_at}.root: {e}"))?;

    let (prefix, prefix_at) = pick(&own.prefix, &global.prefix, at);
    let prefix = prefix.unwrap_or("/");
    if !prefix.starts_with('/') || !prefix.ends_with('/') {
        return Err(format!(
            "{prefix_at}.prefix: {prefix:?} must start and end with `/`"
        ));
    }
    let (index, index_at) = pick(&own.index, &global.index, at);
    let index = index.unwrap_or("index.html");
    if index.is_empty() || index.contains('/') || index == "." || index == ".." {
        return Err(format!("{index_at}.index: {index:?} is not a file name"));
    }
    Ok(Site {
        root,
        prefix: prefix.to_owned(),
        index: index.to_owned(),
    })
}

/// The product's value if set, else the global one, with the key path it came from.
fn pick<'a>(
    own: &'a Option<String>,
    global: &'a Option<String>,
    at: &'a str,
) -> (Option<&'a str>, &'a str) {
    match (own, global) {
        (Some(value), _) => (Some(value), at),
        (None, value) => (value.as_deref(), "global"),
    }
}

fn canonical_dir(path: &Path) -> Result<PathBuf, String> {
    let shown = path.display();
    let canonical = path.canonicalize().map_err(|e| format!("{shown}: {e}"))?;
    if !canonical.is_dir() {
        return Err(format!("{shown} is not a directory"));
    }
    Ok(canonical)
}
