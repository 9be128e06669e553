//! Helpers for a plugin's own tests (feature `testing`): the configs its docs show
//! are checked to init, and its config errors read in one call.

use std::fmt::Display;

use hookgate_plugin_api::testing::TestPlugin;
use hookgate_plugin_api::Registry;

/// Every ` ```toml ` block of a Markdown file, or of crate docs read as source (the
/// `//!` lines of a `lib.rs`), in order.
///
/// ```
/// use hookgate_plugin_kit::testing::toml_blocks;
///
/// let doc = "//! Config:\n//!\n//! ```toml\n//! [global]\n//! rules = []\n//! ```\n";
/// assert_eq!(toml_blocks(doc), ["[global]\nrules = []\n"]);
/// ```
pub fn toml_blocks(doc: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut open: Option<String> = None;
    for line in doc.lines() {
        let line = line.strip_prefix("//!").unwrap_or(line);
        let line = line.strip_prefix(' ').unwrap_or(line);
        match (&mut open, line.trim_end()) {
            (None, "```toml") => open = Some(String::new()),
            (Some(_), "```") => blocks.extend(open.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Panics unless every document (`(name, text)`) has a TOML block and each block
/// inits the plugin, naming the document, the block and the error.
///
/// ```
/// use hookgate_plugin_api::Registry;
/// use hookgate_plugin_kit::testing::assert_documented_configs_init;
///
/// fn init(config: &str, _reg: &mut Registry<'_>) -> Result<(), String> {
///     config.parse::<toml::Table>().map(drop).map_err(|e| e.to_string())
/// }
/// let readme = "# A plugin\n\n```toml\nlimit = 3\n```\n";
/// assert_documented_configs_init(init, &[("README.md", readme)]);
/// ```
pub fn assert_documented_configs_init<F, E>(init: F, docs: &[(&str, &str)])
where
    F: Fn(&str, &mut Registry<'_>) -> Result<(), E> + Copy,
    E: Display,
{
    assert_blocks_init(docs, |block| TestPlugin::init(init, block).map(drop));
}

/// A test, `documented_configs_init`, that every TOML example of the crate's
/// `README.md` and of its crate docs (`src/lib.rs`) inits the plugin the crate exports
/// (`export_plugin!`), with its handlers at the points its manifest declares; put it in
/// the plugin's test module.
///
/// ```ignore
/// #[cfg(test)]
/// mod tests {
///     hookgate_plugin_kit::test_documented_configs!();
/// }
/// ```
// `crate` on purpose: the plugin crate the macro is called in, whose export it tests.
#[allow(clippy::crate_in_macro_def)]
#[macro_export]
macro_rules! test_documented_configs {
    () => {
        #[test]
        fn documented_configs_init() {
            $crate::testing::assert_documented_configs_export::<crate::HookgatePlugin>(&[
                (
                    "README.md",
                    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")),
                ),
                (
                    "lib.rs",
                    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")),
                ),
            ]);
        }
    };
}

/// Panics unless every TOML block of every document inits the plugin `P` exported by
/// `export_plugin!`, through [`TestPlugin::exported`]: its handlers must also sit at
/// the points its manifest declares, as the proxy requires.
pub fn assert_documented_configs_export<P: hookgate_plugin_api::__private::PluginExport>(
    docs: &[(&str, &str)],
) {
    assert_blocks_init(docs, |block| TestPlugin::exported::<P>(block).map(drop));
}

/// Panics unless every document has a TOML block and `init` accepts each block.
fn assert_blocks_init(docs: &[(&str, &str)], mut init: impl FnMut(&str) -> Result<(), String>) {
    for (name, text) in docs {
        let blocks = toml_blocks(text);
        assert!(!blocks.is_empty(), "{name} has no TOML block");
        for block in blocks {
            if let Err(e) = init(&block) {
                panic!("{name}: a documented config does not init: {e}\n{block}");
            }
        }
    }
}

/// The error with which `init` refuses `config`; panics if it accepts it.
///
/// ```
/// use hookgate_plugin_api::Registry;
/// use hookgate_plugin_kit::testing::config_error;
///
/// fn init(config: &str, _reg: &mut Registry<'_>) -> Result<(), String> {
///     match config {
///         "" => Ok(()),
///         _ => Err(format!("unknown key in {config:?}")),
///     }
/// }
/// assert_eq!(config_error(init, "x = 1"), "unknown key in \"x = 1\"");
/// ```
pub fn config_error<F, E>(init: F, config: &str) -> String
where
    F: FnOnce(&str, &mut Registry<'_>) -> Result<(), E>,
    E: Display,
{
    match TestPlugin::init(init, config) {
        Ok(_) => panic!("init accepted {config:?}"),
        Err(e) => e,
    }
}
