use serde::Deserialize;

use crate::{AtLeastOne, Sections};

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Site {
    root: Option<String>,
    #[serde(default)]
    depth: Option<AtLeastOne<u32>>,
    #[serde(default)]
    tags: Vec<String>,
}

const FILE: &str = r#"
[global]
depth = 3
tags = ["g"]

[products.shop]
root = "/srv/shop"

[products.blog]
root = "/srv/blog"
tags = []

[products."my shop"]
"#;

#[test]
fn layered_products_take_the_global_keys_they_leave_out() {
    let sites = Sections::<Site>::layered(FILE).unwrap();
    let shop = sites.for_product("shop");
    assert_eq!(shop.root.as_deref(), Some("/srv/shop"));
    assert_eq!(shop.depth.map(AtLeastOne::get), Some(3));
    assert_eq!(shop.tags, ["g"]);
    // A key set by the product wins, even an empty list.
    assert!(sites.for_product("blog").tags.is_empty());
    // A product without a section gets [global].
    assert_eq!(sites.for_product("other"), sites.global());
    assert_eq!(sites.global().root, None);
    let names: Vec<&str> = sites.products().map(|(name, _)| name).collect();
    assert_eq!(names, ["blog", "my shop", "shop"]);
}

#[test]
fn standing_alone_products_do_not_see_global_keys() {
    let sites = Sections::<Site>::from_toml(FILE).unwrap();
    assert_eq!(sites.for_product("shop").depth, None);
    assert!(sites.for_product("shop").tags.is_empty());
}

#[test]
fn require_names_the_first_product_without_the_key() {
    let sites = Sections::<Site>::layered(FILE).unwrap();
    let err = sites.require("root", |s| s.root.is_some()).unwrap_err();
    assert_eq!(err.key(), r#"products."my shop".root"#);
    assert_eq!(err.message(), "missing (and no global.root)");
    assert!(sites.require("depth", |s| s.depth.is_some()).is_ok());
}

#[test]
fn errors_name_the_section_that_set_the_key() {
    let cases = [
        (
            "[global]\ndepth = 0\n[products.a]\n",
            "global.depth",
            "at least 1",
        ),
        (
            "[global]\ndepth = 2\n[products.a]\ndepth = 0\n",
            "products.a.depth",
            "at least 1",
        ),
        (
            "[products.\"a.b\"]\ntags = [1]\n",
            "products.\"a.b\".tags[0]",
            "invalid type",
        ),
        (
            "[products.a]\nroots = \"/\"\n",
            "products.a.roots",
            "unknown field",
        ),
        (
            "[product.a]\n",
            "product",
            "expected `global` or `products`",
        ),
        ("global = 1\n", "global", "expected a table"),
        ("[products]\na = 1\n", "products.a", "expected a table"),
        ("[global\n", "", "TOML parse error"),
    ];
    for (text, key, message) in cases {
        let err = Sections::<Site>::layered(text).unwrap_err();
        assert_eq!(err.key(), key, "{text}: {err}");
        assert!(err.message().contains(message), "{text}: {err}");
    }
}

#[test]
fn rules_take_one_list_out_of_every_section() {
    #[derive(Deserialize)]
    struct Lists {
        #[serde(default)]
        request: Vec<u32>,
        #[serde(default)]
        response: Vec<u32>,
    }
    let text = "[global]\nrequest = [1]\nresponse = [2]\n[products.a]\nrequest = [3]\n";
    let mut sections = Sections::<Lists>::from_toml(text).unwrap();
    let request = sections.rules(|s| std::mem::take(&mut s.request));
    let response = sections.rules(|s| std::mem::take(&mut s.response));
    assert_eq!(request.rules_for("a").collect::<Vec<_>>(), [&1, &3]);
    assert_eq!(response.rules_for("a").collect::<Vec<_>>(), [&2]);
}
