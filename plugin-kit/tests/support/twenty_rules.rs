//! The 20-rule table the allocation test and the matching benchmark share: every
//! primitive the kit supports and the table form, and a request for which every rule
//! holds.

use hookgate_plugin_kit::{Condition, FactsBuf, ScopedRules};

#[derive(serde::Deserialize)]
pub struct Rule {
    /// The rule's condition.
    pub when: Condition,
}

pub const RULES: &str = r#"
[global]
rules = [
  { when = 'req_host_in("a.example|shop.example")' },
  { when = 'req_host_suffix_in(".example")' },
  { when = 'req_path_in("/cart|/x", true)' },
  { when = 'req_path_prefix_in("/ca", false) && !req_path_suffix_in(".php", true)' },
  { when = 'req_path_contain("AR", true) || req_path_element_prefix_in("/cart/", false)' },
  { when = 'req_method_in("get|post")' },
  { when = 'req_query_exist() && req_query_key_in("id|x")' },
  { when = 'req_query_key_prefix_in("i") && req_query_value_in("id", "7|8", true)' },
  { when = 'req_query_value_prefix_in("id", "7", false) || req_query_value_suffix_in("id", "x", true)' },
  { when = 'req_query_value_contain("id", "7", false)' },
]

[products.shop]
rules = [
  { when = 'req_header_key_in("X-Debug|X-Other")' },
  { when = 'req_header_value_in("x-debug", "ON", true)' },
  { when = 'req_header_value_prefix_in("x-debug", "o", true) && req_header_value_suffix_in("x-debug", "n", false)' },
  { when = 'req_header_value_contain("user-agent", "Firefox|Chrome", true)' },
  { when = 'req_cookie_key_in("uid") && req_cookie_value_in("uid", "abc", true)' },
  { when = 'req_cookie_value_prefix_in("uid", "a", false) || req_cookie_value_suffix_in("uid", "c", false) || req_cookie_value_contain("uid", "b", false)' },
  { when = 'req_cip_range("10.0.0.0", "10.255.255.255") && !req_cip_trusted()' },
  { when = 'req_proto_secure() && req_port_in("443|8443") && ses_tls_sni_in("shop.example")' },
  { when = 'ses_sip_range("192.0.2.0", "192.0.2.255")' },
  { when = { path_prefix = "/cart", method = ["GET", "HEAD"], header = { name = "x-debug" }, client_ip = ["10.0.0.0/8", "::1"] } },
]
"#;

/// The rules, compiled.
pub fn rules() -> ScopedRules<Rule> {
    ScopedRules::<Rule>::from_toml(RULES).expect("rules compile")
}

/// A request for which all 20 rules of product `shop` hold.
pub fn matching_request() -> FactsBuf {
    let mut request = FactsBuf::new("GET", "Shop.Example:443", "/cart?id=7&x=1")
        .with_header("x-debug", "on")
        .with_header("user-agent", "Mozilla Firefox")
        .with_header("cookie", "theme=dark; uid=abc");
    request.client_ip = "10.1.2.3".parse().ok();
    request.peer_ip = "192.0.2.9".parse().ok();
    request.secure = true;
    request.port = Some(443);
    request.sni = Some("shop.example".into());
    request
}
