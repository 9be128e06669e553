//! The plugin's config: TOML, checked once at init and compiled into [`Redirect`]
//! rules; every error names the key, e.g. `products.shop.rules[1].status`.

use std::collections::BTreeMap;

use http::{HeaderValue, Uri};
use serde::Deserialize;

use crate::condition::{Condition, HeaderMatch, When};
use crate::rule::{Redirect, Scheme, Target};
use crate::scoped::Scoped;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    global: Section,
    #[serde(default)]
    products: BTreeMap<String, Section>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    #[serde(default)]
    rules: Vec<RuleFile>,
}

/// One rule as written: conditions, one target, a status.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    path: Option<String>,
    path_prefix: Option<String>,
    host: Option<String>,
    method: Option<String>,
    header: Option<HeaderMatch>,
    set_url: Option<String>,
    add_prefix: Option<String>,
    set_scheme: Option<String>,
    status: Option<u16>,
}

/// Parses and checks the config.
pub fn parse(text: &str) -> Result<Scoped<Redirect>, String> {
    let error = |detail: &str| format!("redirect plugin config: {detail}");
    let file: File = toml::from_str(text).map_err(|e| error(e.to_string().trim_end()))?;
    let products = (file.products.into_iter())
        .map(|(name, section)| (name, section.rules))
        .collect();
    Scoped::build(file.global.rules, products, "rules", rule).map_err(|e| error(&e))
}

fn rule(file: RuleFile, key: &str) -> Result<Redirect, String> {
    let RuleFile {
        path,
        path_prefix,
        host,
        method,
        header,
        set_url,
        add_prefix,
        set_scheme,
        status,
    } = file;
    let when = When {
        path,
        path_prefix,
        host,
        method,
        header,
    };
    let when = Condition::new(when, key)?;
    let target = match (set_url, add_prefix, set_scheme) {
        (Some(url), None, None) => Target::Url(location(url, &format!("{key}.set_url"))?),
        (None, Some(prefix), None) => {
            // The request's path starts with `/`: a trailing one would double it.
            let prefix = prefix.trim_end_matches('/').to_owned();
            Target::Prefix(location(prefix, &format!("{key}.add_prefix"))?)
        }
        (None, None, Some(scheme)) => match scheme.to_ascii_lowercase().as_str() {
            "http" => Target::Scheme(Scheme::Http),
            "https" => Target::Scheme(Scheme::Https),
            _ => return Err(format!("{key}.set_scheme: {scheme:?} is not http or https")),
        },
        (None, None, None) => {
            return Err(format!("{key}: set one of set_url, add_prefix, set_scheme"))
        }
        _ => {
            return Err(format!(
                "{key}: set only one of set_url, add_prefix, set_scheme"
            ))
        }
    };
    let status = match status.unwrap_or(302) {
        status @ (301 | 302 | 303 | 307 | 308) => status,
        other => {
            return Err(format!(
                "{key}.status: {other} is not a redirect status (301, 302, 303, 307 or 308)"
            ))
        }
    };
    Ok(Redirect {
        when,
        target,
        status,
    })
}

/// A URL the `Location` header can carry: absolute (`https://host/...`) or an
/// absolute path.
fn location(url: String, key: &str) -> Result<String, String> {
    let absolute = url
        .parse::<Uri>()
        .is_ok_and(|uri| uri.scheme().is_some() && uri.authority().is_some());
    let usable = HeaderValue::from_str(&url).is_ok() && (absolute || url.starts_with('/'));
    if usable {
        Ok(url)
    } else {
        Err(format!(
            "{key}: {url:?} is not an absolute URL or a path starting with \"/\""
        ))
    }
}
