//! Serves files from a directory per product, like BFE's `mod_static`, at
//! **FoundProduct**: GET and HEAD, with the content type guessed from the file name,
//! `Last-Modified` and `If-Modified-Since` (304); 404 for a missing file, 405 (with
//! `Allow`) for other methods, the index file for a directory. A path never leaves the
//! root: `..` segments are refused (400), and a symlink resolving outside it is
//! forbidden (403). Requests outside the prefix, and products without a root, go on to
//! the backend. What the server does with each return value is the callback contract
//! in `hookgate-plugin-api`'s crate docs.
//!
//! Config (TOML); a product's keys override `[global]`'s, and products without a
//! section of their own use `[global]` if it has a root:
//!
//! ```toml
//! [global]
//! index = "index.html"     # the file served for a directory (default)
//!
//! [products.shop]
//! root = "/srv/shop"       # required (here or in [global])
//! prefix = "/static/"      # only paths under it (default "/": every path)
//! ```
//!
//! ## Layout
//! - `config`: the TOML, checked once at init, as one `Site` per product (layered over
//!   `[global]` by the kit).
//! - `serve`: one request: path → file inside the root → reply.

mod config;
mod serve;

use hookgate_plugin_api::{export_plugin, Outcome, Registry};

use config::Sites;

/// Parses the config once and registers the FoundProduct handler.
pub fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let sites = Sites::parse(config).map_err(|e| format!("static plugin config: {e}"))?;
    reg.on_found_product(move |req| match sites.site(req.product()) {
        Some(site) => serve::serve(site, req),
        None => Outcome::GoOn,
    });
    Ok(())
}

export_plugin!(init, points = [FoundProduct]);

#[cfg(test)]
mod tests;
