//! The config: TOML → one [`Site`] per product, checked once at init. The kit layers a
//! product's keys over `[global]`'s and names the failing key (`products.shop.root`).

use std::path::PathBuf;

use hookgate_plugin_kit::{ConfigError, Sections};
use serde::Deserialize;

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
pub(crate) struct Sites(Sections<Section>);

impl Sites {
    /// Parses and checks the config text.
    pub(crate) fn parse(text: &str) -> Result<Sites, ConfigError> {
        let sections = Sections::<Section>::layered(text)?;
        sections.require("root", |section| section.0.is_some())?;
        Ok(Sites(sections))
    }

    /// The site serving `product`, if any (its section, else `[global]` when that has
    /// a root).
    pub(crate) fn site(&self, product: &str) -> Option<&Site> {
        self.0.for_product(product).0.as_ref()
    }
}

/// A section's site; `None` without a root.
#[derive(Deserialize)]
#[serde(try_from = "Written")]
pub(crate) struct Section(Option<Site>);

/// `[global]` or `[products.<name>]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    root: Option<Root>,
    #[serde(default = "Prefix::all")]
    prefix: Prefix,
    #[serde(default = "Index::html")]
    index: Index,
}

impl From<Written> for Section {
    fn from(written: Written) -> Section {
        Section(written.root.map(|Root(root)| Site {
            root,
            prefix: written.prefix.0,
            index: written.index.0,
        }))
    }
}

/// A directory, canonical.
#[derive(Deserialize)]
#[serde(try_from = "PathBuf")]
struct Root(PathBuf);

impl TryFrom<PathBuf> for Root {
    type Error = String;

    fn try_from(path: PathBuf) -> Result<Root, String> {
        let shown = path.display();
        let canonical = path.canonicalize().map_err(|e| format!("{shown}: {e}"))?;
        if !canonical.is_dir() {
            return Err(format!("{shown} is not a directory"));
        }
        Ok(Root(canonical))
    }
}

/// A path prefix that starts and ends with `/`.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Prefix(String);

impl Prefix {
    fn all() -> Prefix {
        Prefix("/".to_owned())
    }
}

impl TryFrom<String> for Prefix {
    type Error = String;

    fn try_from(prefix: String) -> Result<Prefix, String> {
        if !prefix.starts_with('/') || !prefix.ends_with('/') {
            return Err(format!("{prefix:?} must start and end with `/`"));
        }
        Ok(Prefix(prefix))
    }
}

/// The name of a file in a directory.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Index(String);

impl Index {
    fn html() -> Index {
        Index("index.html".to_owned())
    }
}

impl TryFrom<String> for Index {
    type Error = String;

    fn try_from(index: String) -> Result<Index, String> {
        if index.is_empty() || index.contains('/') || index == "." || index == ".." {
            return Err(format!("{index:?} is not a file name"));
        }
        Ok(Index(index))
    }
}
