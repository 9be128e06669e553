//! The config: TOML → one [`Policy`] per product, checked once at init. Errors name
//! the key (`products.shop.allow_origins`).

use std::collections::BTreeMap;

use http::{HeaderName, Method, Uri};
use serde::Deserialize;

use crate::policy::{Origins, Policy};

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
    allow_origins: Option<Vec<String>>,
    allow_methods: Option<Vec<String>>,
    allow_headers: Option<Vec<String>>,
    expose_headers: Option<Vec<String>>,
    allow_credentials: Option<bool>,
    max_age: Option<u32>,
}

/// The policies, by product.
#[derive(Debug)]
pub(crate) struct Policies {
    /// A `BTreeMap` because a lookup then costs a few string comparisons, less than
    /// hashing the name with SipHash.
    products: BTreeMap<String, Policy>,
    /// For products without a section of their own, when `[global]` lists origins.
    global: Option<Policy>,
}

impl Policies {
    /// Parses and checks the config text.
    pub(crate) fn parse(text: &str) -> Result<Policies, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())?;
        let global = match file.global.allow_origins {
            Some(_) => Some(policy(&file.global, &Section::default(), "global")?),
            None => None,
        };
        let mut products = BTreeMap::new();
        for (name, section) in &file.products {
            let policy = policy(section, &file.global, &format!("products.{name}"))?;
            products.insert(name.clone(), policy);
        }
        Ok(Policies { products, global })
    }

    /// The policy for `product`, if it has one.
    pub(crate) fn policy(&self, product: &str) -> Option<&Policy> {
        self.products.get(product).or(self.global.as_ref())
    }
}

/// A product's policy: its own keys, else the global ones, else the defaults. `at` is
/// the section's key path, for errors.
fn policy(own: &Section, global: &Section, at: &str) -> Result<Policy, String> {
    let Some((list, list_at)) = pick(&own.allow_origins, &global.allow_origins, at) else {
        return Err(format!(
            "{at}.allow_origins: missing (and no global.allow_origins)"
        ));
    };
    let key = format!("{list_at}.allow_origins");
    let origins = if list.iter().any(|o| o == "*") {
        Origins::Any
    } else {
        Origins::Listed(
            list.iter()
                .map(|o| origin(o, &key))
                .collect::<Result<_, _>>()?,
        )
    };

    let methods = match pick(&own.allow_methods, &global.allow_methods, at) {
        Some((list, list_at)) => {
            let key = format!("{list_at}.allow_methods");
            join(
                list,
                |m| Method::from_bytes(m.as_bytes()).is_ok(),
                "a method",
                &key,
            )?
        }
        None => Some("GET, HEAD, POST".to_owned()),
    };
    let names = |field: fn(&Section) -> &Option<Vec<String>>, name: &str| {
        let Some((list, list_at)) = pick(field(own), field(global), at) else {
            return Ok(None);
        };
        let valid = |h: &str| h == "*" || HeaderName::from_bytes(h.as_bytes()).is_ok();
        join(list, valid, "a header name", &format!("{list_at}.{name}"))
    };
    let allow_headers = names(|s| &s.allow_headers, "allow_headers")?;
    let expose_headers = names(|s| &s.expose_headers, "expose_headers")?;

    let credentials = pick(&own.allow_credentials, &global.allow_credentials, at);
    if let (Some((true, credentials_at)), Origins::Any) = (credentials, &origins) {
        return Err(format!(
            "{credentials_at}.allow_credentials: true with allow_origins = [\"*\"] would let \
             every site read responses made with the user's cookies; list the origins"
        ));
    }
    let max_age = pick(&own.max_age, &global.max_age, at);
    Ok(Policy {
        origins,
        allow_methods: methods,
        allow_headers,
        expose_headers,
        allow_credentials: credentials.is_some_and(|(allow, _)| *allow),
        max_age: max_age.map(|(seconds, _)| seconds.to_string()),
    })
}

/// The product's value if set, else the global one, with the section it came from.
fn pick<'a, T>(own: &'a Option<T>, global: &'a Option<T>, at: &'a str) -> Option<(&'a T, &'a str)> {
    match (own, global) {
        (Some(value), _) => Some((value, at)),
        (None, Some(value)) => Some((value, "global")),
        (None, None) => None,
    }
}

/// A serialised origin, lowercase: `scheme://host[:port]`, nothing more.
fn origin(value: &str, key: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "{key}: {value:?} is not an origin (scheme://host[:port], no path), \
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
            "{key}: {value:?} has its scheme's default port, which browsers leave out"
        ));
    }
    Ok(value.to_ascii_lowercase())
}

/// The list as one header value (`None` if empty), each item checked by `valid`.
fn join(
    list: &[String],
    valid: impl Fn(&str) -> bool,
    what: &str,
    key: &str,
) -> Result<Option<String>, String> {
    if let Some(bad) = list.iter().find(|item| !valid(item)) {
        return Err(format!("{key}: {bad:?} is not {what}"));
    }
    Ok(Some(list.join(", ")).filter(|joined| !joined.is_empty()))
}
