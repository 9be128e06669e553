//! BFE's condition language for hookgate plugins: one rule engine instead of a
//! `condition.rs` per plugin.
//!
//! A condition is written as a BFE expression (a rule file's condition pastes in
//! unchanged) or as a TOML table; both compile once into the same tree of typed
//! primitives, which is evaluated per request against [`Facts`] without allocating.
//!
//! # Layout
//!
//! - [`facts`](Facts): the [`Facts`] trait the host implements over its request, and
//!   [`FactsBuf`], a plain implementation for tests.
//! - `condition`: [`Condition`]; inside it `parse` (scanner and parser), `primitive`
//!   (signatures, compilation, evaluation) and `table` (the TOML table form).
//! - `sections`: [`Sections`], a section per product under `[global]` and
//!   `[products.<name>]`, standing alone or layered over `[global]` key by key.
//! - `scoped`: [`ScopedRules`], rules per product, global rules first.
//! - `config`: [`from_toml`] and [`config_key`]: errors that name the key path.
//! - `values`: config values several plugins take ([`HeaderName`], [`Networks`],
//!   [`AtLeastOne`]).
//! - `error`: [`ParseError`] (with a column) and [`ConfigError`] (with a key path).
//! - `request`: [`RequestFacts`], the SDK's `Request` as [`Facts`], for plugins.
//! - `clock`: [`Clock`], where time windows read the time (a manual one for tests,
//!   with the `testing` feature).
//! - `testing` (feature `testing`): helpers for a plugin's tests: every TOML example
//!   of its docs inits, and the error a bad config gets.
//!
//! # Grammar
//!
//! ```text
//! CE = CE && CE | CE || CE | ( CE ) | ! CE | primitive(args)
//! args = [ literal { "," literal } ]
//! literal = "string" | `raw string` | integer | true | false
//! ```
//!
//! Precedence as in C: `()` > `!` > `&&` > `||`; `&&` and `||` associate to the left.
//! Interpreted strings take Go's escapes (`\n`, `\t`, `\\`, `\"`, `\xHH` and octal
//! for ASCII, `\uHHHH`, `\UHHHHHHHH`). Errors carry a 1-based column in characters:
//! `column 17: expected ')' or ','`. Unknown names, wrong argument counts and
//! argument types are compile-time errors naming the primitive.
//!
//! # Primitives
//!
//! Names, argument order and `|`-separated lists are BFE's. Case folding is ASCII
//! only (BFE folds Unicode).
//!
//! | primitive | notes |
//! |---|---|
//! | `default_t()` | always true |
//! | `req_host_in(host_list)` | case-insensitive, exact; the request's port is ignored; a pattern with `:` is an error |
//! | `req_host_suffix_in(suffix_list)` | case-insensitive; port ignored |
//! | `req_path_in / _prefix_in / _suffix_in / _contain(list, ci)` | on [`Facts::path`] |
//! | `req_path_element_prefix_in(prefix_list, ci)` | value and patterns get a trailing `/`: `/api` matches `/api/` but not `/apix` |
//! | `req_method_in(method_list)` | case-insensitive |
//! | `req_query_exist()` | some `key[=value]` pair is present |
//! | `req_query_key_in(key_list)`, `req_query_key_prefix_in(prefix_list)` | case-sensitive |
//! | `req_query_value_in / _prefix_in / _suffix_in / _contain(key, list, ci)` | first value; an absent key reads as `""` (Go's `Values.Get`) |
//! | `req_header_key_in(key_list)` | a header with a non-empty first value |
//! | `req_header_value_in / _prefix_in / _suffix_in / _contain(name, list, ci)` | first value; an absent header reads as `""` |
//! | `req_cookie_key_in(key_list)` | from every `cookie` header |
//! | `req_cookie_value_in / _prefix_in / _suffix_in / _contain(key, list, ci)` | first cookie of that name; absent → false |
//! | `req_cip_range(start_ip, end_ip)` | inclusive, one family; IPv4-mapped clients match IPv4 ranges |
//! | `req_cip_trusted()`, `req_proto_secure()` | |
//! | `req_port_in(port_list)` | [`Facts::port`] |
//! | `ses_tls_sni_in(host_list)` | case-insensitive |
//! | `ses_sip_range(start_ip, end_ip)` | on [`Facts::peer_ip`] |
//!
//! Query keys and values are unescaped like Go's `url.ParseQuery` (`%XX`, `+` as
//! space; pairs with `;` or a bad escape skipped); that is the one place evaluation
//! allocates, and only for a pair that holds `%` or `+`.
//!
//! Left out (a clear error names them): the regular-expression primitives
//! (`req_host_regmatch`, `req_path_regmatch`, `req_url_regmatch`,
//! `req_query_value_regmatch`, `req_header_value_regmatch`, `req_ua_regmatch`), the
//! hash primitives (`req_query_value_hash_in`, `req_header_value_hash_in`,
//! `req_cookie_value_hash_in`, `req_cip_hash_in`), and those needing facts the kit does
//! not model: `req_host_tag_in`, `req_tag_match`, `req_vip_in`, `req_vip_range`,
//! `ses_vip_range`, `req_proto_match`, `req_context_value_in`, `req_body_json_in`,
//! `ses_tls_client_auth`, `ses_tls_client_ca_in`, and the response primitives.
//!
//! # The table form
//!
//! | key | primitive |
//! |---|---|
//! | `host = "a.example"` or a list | `req_host_in` |
//! | `method = "GET"` or a list | `req_method_in` |
//! | `path = "/x"` or a list | `req_path_in(.., false)`; must start with `/` |
//! | `path_prefix = "/api/"` or a list | `req_path_prefix_in(.., false)`; must start with `/` |
//! | `header = { name = "x-debug", value = "1" }` | `req_header_value_in(name, value, false)` |
//! | `header = { name = "x-debug" }` | `req_header_key_in(name)` |
//! | `client_ip = ["10.0.0.0/8", "192.0.2.1"]` | `req_cip_range` per network, joined by `\|\|` |
//! | `cond = "<BFE expression>"` | the expression |
//!
//! Keys join with `&&` in the order of this table; a list holds alternatives; an
//! empty table is `default_t()`. Errors name the key (`path_prefix: ...`).
//!
//! # Example
//!
//! ```
//! use hookgate_plugin_kit::{Condition, FactsBuf, ScopedRules};
//!
//! let cond = Condition::parse(
//!     r#"req_host_in("shop.example") && !req_path_prefix_in("/admin/", false)"#,
//! )?;
//! let request = FactsBuf::new("GET", "Shop.Example:8080", "/cart?id=7");
//! assert!(cond.matches(&request));
//!
//! #[derive(serde::Deserialize)]
//! struct Rule {
//!     when: Condition,
//!     status: u16,
//! }
//! let rules: ScopedRules<Rule> = ScopedRules::from_toml(
//!     r#"
//!     [global]
//!     rules = [{ when = 'req_query_key_in("debug")', status = 403 }]
//!     [products.shop]
//!     rules = [{ when = { path_prefix = "/cart" }, status = 200 }]
//!     "#,
//! )?;
//! let first = rules.rules_for("shop").find(|r| r.when.matches(&request));
//! assert_eq!(first.map(|r| r.status), Some(200));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod condition;
mod config;
mod error;
mod facts;
mod request;
mod scoped;
mod sections;
#[cfg(feature = "testing")]
pub mod testing;
mod values;

pub use clock::Clock;
pub use condition::Condition;
pub use config::{config_key, from_toml};
pub use error::{ConfigError, ParseError};
pub use facts::{Facts, FactsBuf};
pub use request::RequestFacts;
pub use scoped::{Conditional, ScopedRules};
pub use sections::Sections;
pub use values::{AtLeastOne, HeaderName, Networks};
