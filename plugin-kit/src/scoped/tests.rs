use serde::Deserialize;

use crate::{Condition, FactsBuf, ScopedRules};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    name: String,
    #[serde(default)]
    when: Condition,
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
