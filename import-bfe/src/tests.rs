//! The import of the end-to-end fixture (`tests/data/bfe/conf`), read at the unit
//! level: the routes it writes, evaluated by the kit, pick the clusters BFE's rules
//! pick; clusters carry BFE's weights and defaults; what cannot convert is reported.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use hookgate_plugin_kit::{Condition, FactsBuf};

use crate::{import, Import, InputError, Kind};

/// The fixture, placeholders filled with port 9, in a temporary directory.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/bfe/conf");
    copy(&from, &dir.path().join("conf"));
    dir
}

fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy(&entry.path(), &target);
        } else {
            let text = fs::read_to_string(entry.path()).unwrap();
            let mut filled = String::new();
            let mut rest = text.as_str();
            while let Some(start) = rest.find("{{") {
                filled.push_str(&rest[..start]);
                filled.push('9');
                rest = &rest[rest[start..].find("}}").unwrap() + start + 2..];
            }
            filled.push_str(rest);
            fs::write(target, filled).unwrap();
        }
    }
}

fn imported(dir: &tempfile::TempDir) -> Import {
    import(&dir.path().join("conf")).unwrap()
}

/// The cluster the first matching route of `product` names, as the proxy picks it.
fn cluster(import: &Import, product: &str, request: &FactsBuf) -> Option<String> {
    let routes = import.config["products"][product]["routes"]
        .as_array()
        .unwrap();
    routes.iter().find_map(|route| {
        let holds = match route.get("cond").and_then(toml::Value::as_str) {
            Some(cond) => Condition::parse(cond).unwrap().matches(request),
            None => true,
        };
        holds.then(|| route["cluster"].as_str().unwrap().to_owned())
    })
}

#[test]
fn routes_pick_what_bfe_picks() {
    let dir = fixture();
    let import = imported(&dir);
    let shop = |method: &str, host: &str, uri: &str| {
        cluster(&import, "shop", &FactsBuf::new(method, host, uri))
    };
    let cases = [
        ("GET", "shop.example.com", "/cart", "cart"),
        ("GET", "shop.example.com", "/cart/x", "api"),
        ("GET", "shop.example.com", "/static/a.js", "static"),
        ("GET", "shop.example.com", "/static", "static"),
        // The exact host was chosen: no fallback to the `*` host's rule.
        ("GET", "shop.example.com", "/staticx", "api"),
        ("POST", "shop.example.com", "/other", "cart"),
        // ADVANCED_MODE, then the advanced rules in order.
        ("GET", "shop.example.com", "/api/x", "api"),
        ("GET", "m.shop.example.com", "/x", "mobile"),
        ("GET", "elsewhere.example", "/x", "web"),
    ];
    for (method, host, uri, expected) in cases {
        assert_eq!(
            shop(method, host, uri).as_deref(),
            Some(expected),
            "{method} {host}{uri}"
        );
    }
    let canary = FactsBuf::new("GET", "shop.example.com", "/api/x").with_header("x-canary", "1");
    assert_eq!(cluster(&import, "shop", &canary).as_deref(), Some("canary"));
    let api = |uri: &str| {
        cluster(
            &import,
            "api",
            &FactsBuf::new("GET", "api.example.com", uri),
        )
    };
    assert_eq!(api("/v1/x?debug").as_deref(), Some("web"));
    assert_eq!(api("/v1/x").as_deref(), Some("api"));
    assert_eq!(api("/v2/x"), None);
    // Host tags flattened, lowercase; the default product kept.
    assert_eq!(
        import.config["products"]["api"]["hosts"]
            .as_array()
            .unwrap()[0]
            .as_str(),
        Some("api.example.com")
    );
    assert_eq!(import.config["default_product"].as_str(), Some("shop"));
}

#[test]
fn clusters_keep_bfe_weights_and_defaults() {
    let dir = fixture();
    let import = imported(&dir);
    let clusters = &import.config["clusters"];
    let web = &clusters["web"];
    let weights: BTreeMap<&str, i64> = web["subclusters"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(name, s)| (name.as_str(), s["weight"].as_integer().unwrap()))
        .collect();
    // GSLB_BLACKHOLE at 0 is left out; web.spare, absent from gslb.data, weighs 0.
    assert_eq!(
        weights,
        BTreeMap::from([("web.a", 75), ("web.b", 25), ("web.spare", 0)])
    );
    assert_eq!(web["connect_timeout_ms"].as_integer(), Some(2000));
    assert_eq!(web["response_timeout_ms"].as_integer(), Some(50000));
    assert_eq!(web["cross_retry"].as_integer(), Some(0));
    assert_eq!(web["max_fails"].as_integer(), Some(10));
    assert_eq!(web["health_check"]["path"].as_str(), Some("/health"));
    // BFE's defaults where hookgate's differ, for a cluster that sets nothing.
    assert_eq!(
        clusters["api"]["connect_timeout_ms"].as_integer(),
        Some(2000)
    );
    assert_eq!(
        clusters["api"]["pool_max_idle_per_backend"].as_integer(),
        Some(2)
    );
    assert_eq!(clusters["static"]["retries"].as_integer(), Some(1));
    // FastCGI backends are not converted, and said so.
    assert!(clusters.get("legacy").is_none());
}

#[test]
fn what_cannot_convert_is_reported() {
    let dir = fixture();
    let import = imported(&dir);
    let report = &import.report;
    assert!(!report.is_exact());
    let has = |kind: Kind, fragment: &str| {
        report.items().iter().any(|i| {
            i.kind == kind && format!("{}: {}: {}", i.file, i.item, i.reason).contains(fragment)
        })
    };
    assert!(has(Kind::Skipped, "vip_rule.data: Vips.api"), "{report}");
    assert!(has(Kind::Skipped, "ProductRule.api[2]"), "{report}");
    assert!(has(Kind::Skipped, "req_path_regmatch"), "{report}");
    assert!(has(Kind::Skipped, "mod_waf"), "{report}");
    assert!(has(Kind::Skipped, "Config.legacy"), "{report}");
    assert!(has(Kind::Approximated, "BasicRule.shop[3]"), "{report}");
    assert!(has(Kind::Note, "web.spare"), "{report}");
    // Every condition written compiles.
    for product in import.config["products"].as_table().unwrap().values() {
        for route in product["routes"].as_array().unwrap() {
            if let Some(cond) = route.get("cond").and_then(toml::Value::as_str) {
                Condition::parse(cond).unwrap_or_else(|e| panic!("{cond}: {e}"));
            }
        }
    }
}

#[test]
fn unreadable_input_names_the_file() {
    let dir = fixture();
    let conf = dir.path().join("conf");
    fs::remove_file(conf.join("server_data_conf/host_rule.data")).unwrap();
    let err = import(&conf).err().unwrap();
    assert_eq!(
        err,
        InputError::new("server_data_conf/host_rule.data", "", "missing")
    );
    fs::write(
        conf.join("server_data_conf/host_rule.data"),
        "{\"Hosts\": [1]}",
    )
    .unwrap();
    let err = import(&conf).err().unwrap();
    assert_eq!(
        (err.key.as_str(), err.message.as_str()),
        ("Hosts", "expected an object")
    );
    fs::write(conf.join("server_data_conf/host_rule.data"), "{").unwrap();
    let err = import(&conf).err().unwrap();
    assert!(err.message.starts_with("not JSON"), "{err}");
}

#[test]
fn output_files_are_written_with_absolute_paths() {
    let dir = fixture();
    let import = imported(&dir);
    let target = crate::Target {
        out_dir: dir.path().join("out"),
        plugin_dir: "/opt/hookgate/lib".into(),
    };
    let config = crate::write(&import, &target).unwrap();
    let text = fs::read_to_string(&config).unwrap();
    let written: toml::Table = text.parse().unwrap();
    let first = &written["plugins"].as_array().unwrap()[0];
    let path = first["path"].as_str().unwrap();
    assert!(
        path.starts_with("/opt/hookgate/lib/libhookgate_plugin_"),
        "{path}"
    );
    let plugin_config = first["config"].as_str().unwrap();
    assert!(Path::new(plugin_config).is_absolute() && Path::new(plugin_config).is_file());
    let report = fs::read_to_string(dir.path().join("out/import-report.txt")).unwrap();
    assert_eq!(report.trim(), import.report.to_string());
}
