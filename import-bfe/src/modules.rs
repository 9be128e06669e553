//! The BFE modules ported as example plugins: each module's files become one plugin
//! config. One file per module; this file holds what they share (finding a module's
//! files, per-product sections) and the chain order.

mod access;
mod auth_basic;
mod block;
mod cors;
mod header;
mod logid;
mod prison;
mod redirect;
mod rewrite;
mod static_files;
#[cfg(test)]
mod testing;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::ini::Ini;
use crate::json::{Json, Node};
use crate::{InputError, Plugin, Report};

/// Converts one module: its plugin's config, or `None` when nothing is left to run.
type Convert = fn(&mut Module<'_>) -> Result<Option<toml::Table>, InputError>;

/// (BFE module, example plugin, converter), in chain order: BFE's own module order
/// (fixed in its code, whatever order `Modules` lists), except the access log, which
/// goes first so that its start time includes the other plugins' work.
const PORTED: [(&str, &str, Convert); 10] = [
    ("mod_access", "access-log", access::convert),
    ("mod_logid", "request-id", logid::convert),
    ("mod_cors", "cors", cors::convert),
    ("mod_block", "block", block::convert),
    ("mod_prison", "rate-limit", prison::convert),
    ("mod_auth_basic", "auth-basic", auth_basic::convert),
    ("mod_redirect", "redirect", redirect::convert),
    ("mod_static", "static", static_files::convert),
    ("mod_rewrite", "rewrite", rewrite::convert),
    ("mod_header", "header", header::convert),
];

/// The enabled modules' plugins. Enabled: listed by `bfe.conf`'s `Modules`, or, without
/// a list, those with a `mod_<name>/mod_<name>.conf`.
pub fn import(
    root: &Path,
    bfe: Option<&Ini>,
    report: &mut Report,
) -> Result<Vec<Plugin>, InputError> {
    let listed: Vec<String> = bfe
        .map(|ini| ini.all("Server", "Modules").map(str::to_owned).collect())
        .unwrap_or_default();
    let enabled = |module: &str| {
        if listed.is_empty() {
            root.join(module).join(format!("{module}.conf")).is_file()
        } else {
            listed.iter().any(|m| m == module)
        }
    };
    for module in &listed {
        if !PORTED.iter().any(|(ported, _, _)| ported == module) {
            let reason = format!("{module} has no hookgate plugin yet");
            report.skipped("bfe.conf", "Server.Modules", reason);
        }
    }
    let mut plugins = Vec::new();
    for (module, plugin, convert) in PORTED {
        if !enabled(module) {
            continue;
        }
        let conf_file = format!("{module}/{module}.conf");
        let conf = Ini::read(root, &conf_file)?;
        let mut context = Module {
            root,
            conf_file,
            conf,
            report,
            dirs: Vec::new(),
        };
        if let Some(config) = convert(&mut context)? {
            plugins.push(Plugin {
                module,
                plugin,
                config,
                dirs: context.dirs,
            });
        }
    }
    Ok(plugins)
}

/// One module being converted.
pub struct Module<'r> {
    root: &'r Path,
    /// `mod_<name>/mod_<name>.conf`.
    conf_file: String,
    /// That file, if present.
    conf: Option<Ini>,
    /// Where the conversion reports what it leaves out.
    pub report: &'r mut Report,
    /// Directories the plugin's config needs that BFE would create at start-up.
    pub dirs: Vec<PathBuf>,
}

impl Module<'_> {
    /// The conf file's name, for reports.
    pub fn conf_file(&self) -> &str {
        &self.conf_file
    }

    /// `[section] key` of the module's conf file.
    pub fn conf(&self, section: &str, key: &str) -> Option<&str> {
        self.conf.as_ref()?.get(section, key)
    }

    /// The file named by `[section] key` (relative to the configuration directory, as
    /// BFE resolves it), else `default`.
    pub fn data_file(&self, section: &str, key: &str, default: &str) -> String {
        self.conf(section, key).unwrap_or(default).to_owned()
    }

    /// The JSON data file named by `[section] key`, else `default`; it must exist.
    pub fn data(&self, section: &str, key: &str, default: &str) -> Result<Json, InputError> {
        Json::read_required(self.root, &self.data_file(section, key, default))
    }

    /// A text file named in the module's conf (relative to the configuration
    /// directory); `None` if it does not exist.
    pub fn text(&self, rel: &str) -> Result<Option<String>, InputError> {
        match std::fs::read_to_string(self.root.join(rel)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(InputError::new(rel, "", format!("cannot read: {e}"))),
        }
    }

    /// A path written inside a data file (BFE reads those from its working
    /// directory, `bin/` beside the configuration directory; an absolute one as is).
    pub fn path_in_data(&self, written: &str) -> PathBuf {
        let path = Path::new(written);
        if path.is_absolute() {
            return path.to_owned();
        }
        // BFE runs from `bin/`, a sibling of `conf/`: `../conf/x` is `<root>/x`.
        let from_bin = self.root.join("..").join("bin").join(path);
        if from_bin.exists() {
            return from_bin;
        }
        self.root.join(path)
    }
}

/// The products of a rule file (`{"Version": ..., "Config": {product: [rules]}}`).
pub fn products<'a>(json: &'a Json) -> Result<Vec<(&'a str, Node<'a>)>, InputError> {
    json.root().field("Config")?.entries()
}

/// For a plugin with one section per product and no rule list (cors, static): each
/// product's first rule becomes its section through `section`; later rules are
/// reported as skipped, with `why`.
pub fn first_rule_per_product(
    module: &mut Module<'_>,
    data: &Json,
    why: &str,
    mut section: impl FnMut(&mut Module<'_>, &Node<'_>) -> Result<Option<toml::Table>, InputError>,
) -> Result<Option<toml::Table>, InputError> {
    let mut sections = Sections::default();
    for (product, list) in products(data)? {
        for (n, rule) in list.items()?.into_iter().enumerate() {
            if n > 0 {
                let reason = format!("only a product's first rule converts: {why}");
                module.report.skipped(rule.file(), rule.key(), reason);
                continue;
            }
            if let Some(table) = section(module, &rule)? {
                *sections.section(product, false) = table;
            }
        }
    }
    Ok((!sections.is_empty()).then(|| sections.into_table()))
}

/// A plugin config being written: `[global]` and `[products.<name>]` tables.
#[derive(Default)]
pub struct Sections {
    global: toml::Table,
    products: BTreeMap<String, toml::Table>,
}

impl Sections {
    /// The section for BFE product `product`. Modules that evaluate BFE's product
    /// `global` before every product's own rules (block, header, prison) pass
    /// `global_is_special`; for the others it is a product like any other.
    pub fn section(&mut self, product: &str, global_is_special: bool) -> &mut toml::Table {
        if global_is_special && product == "global" {
            &mut self.global
        } else {
            self.products.entry(product.to_owned()).or_default()
        }
    }

    /// Appends `item` to list `list` of `product`'s section.
    pub fn push(&mut self, product: &str, global_is_special: bool, list: &str, item: toml::Table) {
        let section = self.section(product, global_is_special);
        let entry = section
            .entry(list)
            .or_insert_with(|| toml::Value::Array(Vec::new()));
        if let toml::Value::Array(items) = entry {
            items.push(toml::Value::Table(item));
        }
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.global.is_empty() && self.products.values().all(toml::Table::is_empty)
    }

    /// The plugin config: `[global]` (if any) and `[products.<name>]`.
    pub fn into_table(self) -> toml::Table {
        let mut table = toml::Table::new();
        if !self.global.is_empty() {
            table.insert("global".into(), self.global.into());
        }
        let products: toml::Table = (self.products.into_iter())
            .filter(|(_, section)| !section.is_empty())
            .map(|(name, section)| (name, toml::Value::Table(section)))
            .collect();
        if !products.is_empty() {
            table.insert("products".into(), products.into());
        }
        table
    }
}
