//! The config: TOML → one [`Policy`] per product, checked once at init. The kit layers
//! a product's keys over `[global]`'s and names the failing key
//! (`products.shop.allow_origins[0]`).

use std::collections::BTreeSet;

use hookgate_plugin_kit::{ConfigError, HeaderName, Sections};
use http::{Method, Uri};
use serde::Deserialize;

use crate::policy::{Origins, Policy};

/// The policies, by product.
pub(crate) struct Policies(Sections<Entry>);

impl Policies {
    /// Parses and checks the config text.
    pub(crate) fn parse(text: &str) -> Result<Policies, ConfigError> {
        let sections = Sections::<Entry>::layered(text)?;
        sections.require("allow_origins", |entry| entry.0.is_some())?;
        Ok(Policies(sections))
    }

    /// The policy for `product`, if it has one (its section, else `[global]` when that
    /// lists origins).
    pub(crate) fn policy(&self, product: &str) -> Option<&Policy> {
        self.0.for_product(product).0.as_ref()
    }
}

/// A section's policy; `None` without `allow_origins`.
#[derive(Deserialize)]
#[serde(try_from = "Section")]
struct Entry(Option<Policy>);

/// `[global]` or `[products.<name>]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    allow_origins: Option<Vec<Origin>>,
    allow_methods: Option<Vec<MethodName>>,
    #[serde(default)]
    allow_headers: Vec<Listed>,
    #[serde(default)]
    expose_headers: Vec<Listed>,
    #[serde(default)]
    allow_credentials: bool,
    max_age: Option<u32>,
}

impl TryFrom<Section> for Entry {
    type Error = &'static str;

    fn try_from(section: Section) -> Result<Entry, Self::Error> {
        let Some(origins) = section.allow_origins else {
            return Ok(Entry(None));
        };
        let origins = if origins.iter().any(|o| o.0 == "*") {
            Origins::Any
        } else {
            Origins::Listed(origins.into_iter().map(|o| o.0).collect::<BTreeSet<_>>())
        };
        if section.allow_credentials && matches!(origins, Origins::Any) {
            return Err(
                "allow_credentials = true with allow_origins = [\"*\"] would let \
                        every site read responses made with the user's cookies; list the origins",
            );
        }
        let methods = section
            .allow_methods
            .map(|list| join(list.iter().map(|m| &m.0)));
        Ok(Entry(Some(Policy {
            origins,
            allow_methods: methods.unwrap_or_else(|| Some("GET, HEAD, POST".to_owned())),
            allow_headers: join(section.allow_headers.iter().map(|h| &h.0)),
            expose_headers: join(section.expose_headers.iter().map(|h| &h.0)),
            allow_credentials: section.allow_credentials,
            max_age: section.max_age.map(|seconds| seconds.to_string()),
        })))
    }
}

/// The list as one header value, `None` if empty.
fn join<'a>(list: impl Iterator<Item = &'a String>) -> Option<String> {
    Some(list.map(String::as_str).collect::<Vec<_>>().join(", ")).filter(|j| !j.is_empty())
}

/// A serialised origin, lowercase (`scheme://host[:port]`, nothing more), or `*`.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Origin(String);

impl TryFrom<String> for Origin {
    type Error = String;

    fn try_from(value: String) -> Result<Origin, String> {
        if value == "*" {
            return Ok(Origin(value));
        }
        let bad = || {
            format!(
                "{value:?} is not an origin (scheme://host[:port], no path), \
                 e.g. \"https://shop.example.com\""
            )
        };
        let uri: Uri = value.parse().map_err(|_| bad())?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(bad());
        };
        // Rebuilt from its parts, an origin is itself: no path, query or user info.
        if authority.as_str().contains('@') || format!("{scheme}://{authority}") != value {
            return Err(bad());
        }
        // Browsers leave the default port out, so an origin with it would never match.
        let default_port = match scheme {
            "http" => Some(80),
            "https" => Some(443),
            _ => None,
        };
        if authority.port_u16().is_some() && authority.port_u16() == default_port {
            return Err(format!(
                "{value:?} has its scheme's default port, which browsers leave out"
            ));
        }
        Ok(Origin(value.to_ascii_lowercase()))
    }
}

/// A method, as written.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct MethodName(String);

impl TryFrom<String> for MethodName {
    type Error = String;

    fn try_from(method: String) -> Result<MethodName, String> {
        match Method::from_bytes(method.as_bytes()) {
            Ok(_) => Ok(MethodName(method)),
            Err(_) => Err(format!("{method:?} is not a method")),
        }
    }
}

/// A header name as written, or `*`.
#[derive(Deserialize)]
#[serde(try_from = "String")]
struct Listed(String);

impl TryFrom<String> for Listed {
    type Error = String;

    fn try_from(name: String) -> Result<Listed, String> {
        if name == "*" {
            return Ok(Listed(name));
        }
        HeaderName::try_from(name.clone()).map(|_| Listed(name))
    }
}
