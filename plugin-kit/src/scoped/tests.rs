use hookgate_plugin_api::testing::{FakeRequest, TestPlugin};
use hookgate_plugin_api::{Outcome, Registry, Reply};
use serde::Deserialize;

use crate::{Condition, Conditional, FactsBuf, ScopedRules};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    name: String,
    #[serde(default)]
    when: Condition,
}

impl Conditional for Rule {
    fn condition(&self) -> &Condition {
        &self.when
    }
}

const FILE: &str = r#"
[global]
rules = [{ name = "g1" }, { name = "g2", when = { method = "POST" } }]

[products.shop]
rules = [{ name = "s1", when = 'req_path_prefix_in("/cart", false)' }]

[products.empty]
"#;

fn names<'a>(rules: impl Iterator<Item = &'a Rule>) -> Vec<&'a str> {
    rules.map(|r| r.name.as_str()).collect()
}

#[test]
fn global_rules_come_first_then_the_products() {
    let rules = ScopedRules::<Rule>::from_toml(FILE).unwrap();
    assert_eq!(names(rules.rules_for("shop")), ["g1", "g2", "s1"]);
    assert_eq!(names(rules.rules_for("empty")), ["g1", "g2"]);
    assert_eq!(names(rules.rules_for("unknown")), ["g1", "g2"]);
    assert_eq!(rules.products().collect::<Vec<_>>(), ["empty", "shop"]);
    assert_eq!(rules.global().len(), 2);
    let cart = FactsBuf::new("GET", "h", "/cart");
    let hit = rules.rules_for("shop").filter(|r| r.when.matches(&cart));
    assert_eq!(names(hit), ["g1", "s1"]);
}

/// A plugin that answers with the names of the rules that apply to the request, in
/// a header, and of the first that holds, in the status's place.
fn listing(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    let rules = ScopedRules::<Rule>::from_toml(config).map_err(|e| e.to_string())?;
    reg.on_found_product(move |req| {
        let all = names(rules.rules_for_request(req)).join(",");
        let first = rules.first_match(req).map_or("", |r| r.name.as_str());
        Outcome::Respond(
            Reply::new(200)
                .header("x-all", &all)
                .header("x-first", first),
        )
    });
    Ok(())
}

fn listed(config: &str, req: FakeRequest) -> (String, String) {
    let plugin = TestPlugin::init(listing, config).unwrap();
    let Ok(Outcome::Respond(reply)) = plugin.found_product(&mut { req }) else {
        panic!("no reply");
    };
    let header = |name| reply.header_value(name).unwrap_or_default().to_owned();
    (header("x-all"), header("x-first"))
}

/// The request's product picks its rules when products have sections; without any,
/// every product sees the global rules (and the product is not asked for).
#[test]
fn a_request_sees_its_products_rules() {
    let post = |path: &str, product: &str| FakeRequest::new("POST", path).product(product);
    let list = |all: &str, first: &str| (all.to_owned(), first.to_owned());
    assert_eq!(listed(FILE, post("/cart", "shop")), list("g1,g2,s1", "g1"));
    assert_eq!(listed(FILE, post("/", "empty")), list("g1,g2", "g1"));
    assert_eq!(listed(FILE, post("/", "")), list("g1,g2", "g1"));
    let global_only =
        "[global]\nrules = [{ name = \"g\", when = { method = \"GET\" } }, { name = \"h\" }]\n";
    assert_eq!(listed(global_only, post("/", "shop")), list("g,h", "h"));
    assert_eq!(listed(global_only, post("/", "")), list("g,h", "h"));
    let shop_only = "[products.shop]\nrules = [{ name = \"s\" }]\n";
    assert_eq!(listed(shop_only, post("/", "shop")), list("s", "s"));
    assert_eq!(listed(shop_only, post("/", "other")), list("", ""));
}

#[test]
fn an_empty_file_has_no_rules() {
    let rules = ScopedRules::<Rule>::from_toml("").unwrap();
    assert_eq!(rules.rules_for("shop").count(), 0);
}

#[test]
fn errors_name_the_key_path() {
    let cases = [
        (
            "[products.shop]\nrules = [{ name = \"a\" }, { name = \"b\", when = 'req_host_in(\"a\" \"b\")' }]\n",
            "products.shop.rules[1].when",
            "column 17: expected ')' or ','",
        ),
        (
            "[global]\nrules = [{ name = \"a\", when = { path = \"x\" } }]\n",
            "global.rules[0].when",
            "path: a path must start with '/'",
        ),
        ("[global]\nrule = []\n", "global.rule", "unknown field `rule`"),
        ("[product.shop]\n", "product", "unknown field `product`"),
        ("[global]\nrules = [{ nam = \"a\" }]\n", "global.rules[0].nam", "unknown field `nam`"),
    ];
    for (text, key, message) in cases {
        let err = ScopedRules::<Rule>::from_toml(text).unwrap_err();
        assert_eq!(err.key(), key, "{err}");
        assert!(err.message().contains(message), "{err}");
        assert!(err.to_string().starts_with(&format!("{key}: ")), "{err}");
    }
    let err = ScopedRules::<Rule>::from_toml("[global\n").unwrap_err();
    assert_eq!(err.key(), "");
}
