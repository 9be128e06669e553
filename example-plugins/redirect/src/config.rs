//! The plugin's config: TOML, checked once at init into [`Redirect`] rules under the
//! kit's [`ScopedRules`](hookgate_plugin_kit::ScopedRules); every error names the rule's
//! key path, e.g. `products.shop.rules[1]: status: ...`.

use hookgate_plugin_kit::Condition;
use http::{HeaderValue, Uri};
use serde::Deserialize;

use crate::rule::{Redirect, Scheme, Target};

/// One rule as written: the condition keys (flattened into the kit's table form),
/// one target, a status.
#[derive(Deserialize)]
pub struct RuleFile {
    #[serde(flatten)]
    when: Condition,
    set_url: Option<String>,
    add_prefix: Option<String>,
    set_scheme: Option<String>,
    status: Option<u16>,
}

impl TryFrom<RuleFile> for Redirect {
    type Error = String;

    fn try_from(file: RuleFile) -> Result<Redirect, String> {
        let target = match (file.set_url, file.add_prefix, file.set_scheme) {
            (Some(url), None, None) => Target::Url(location(url, "set_url")?),
            (None, Some(prefix), None) => {
                // The request's path starts with `/`: a trailing one would double it.
                let prefix = prefix.trim_end_matches('/').to_owned();
                Target::Prefix(location(prefix, "add_prefix")?)
            }
            (None, None, Some(scheme)) => match scheme.to_ascii_lowercase().as_str() {
                "http" => Target::Scheme(Scheme::Http),
                "https" => Target::Scheme(Scheme::Https),
                _ => return Err(format!("set_scheme: {scheme:?} is not http or https")),
            },
            (None, None, None) => return Err("set one of set_url, add_prefix, set_scheme".into()),
            _ => return Err("set only one of set_url, add_prefix, set_scheme".into()),
        };
        let status = match file.status.unwrap_or(302) {
            status @ (301 | 302 | 303 | 307 | 308) => status,
            other => {
                return Err(format!(
                    "status: {other} is not a redirect status (301, 302, 303, 307 or 308)"
                ))
            }
        };
        Ok(Redirect {
            when: file.when,
            target,
            status,
        })
    }
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

/// A rule is read as written ([`RuleFile`]) and checked into what the request path needs.
impl<'de> Deserialize<'de> for Redirect {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Redirect, D::Error> {
        RuleFile::deserialize(deserializer)
            .and_then(|raw| Redirect::try_from(raw).map_err(serde::de::Error::custom))
    }
}
