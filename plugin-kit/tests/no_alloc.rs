//! Evaluating a compiled rule table allocates nothing: a counting global allocator
//! watches 20 rules evaluated against a request that exercises every kind of primitive.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use hookgate_plugin_kit::{Condition, FactsBuf, ScopedRules};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// Forwards to the system allocator and counts; the test reads the count around the
// evaluation only, on this one thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(serde::Deserialize)]
struct Rule {
    when: Condition,
}

const RULES: &str = r#"
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

#[test]
fn evaluating_a_compiled_twenty_rule_table_allocates_nothing() {
    let rules = ScopedRules::<Rule>::from_toml(RULES).expect("rules compile");
    assert_eq!(rules.rules_for("shop").count(), 20);
    let mut request = FactsBuf::new("GET", "Shop.Example:443", "/cart?id=7&x=1")
        .with_header("x-debug", "on")
        .with_header("user-agent", "Mozilla Firefox")
        .with_header("cookie", "theme=dark; uid=abc");
    request.client_ip = "10.1.2.3".parse().ok();
    request.peer_ip = "192.0.2.9".parse().ok();
    request.secure = true;
    request.port = Some(443);
    request.sni = Some("shop.example".into());
    let other = FactsBuf::new("DELETE", "elsewhere", "/");

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut matched = 0;
    for _ in 0..100 {
        for facts in [&request, &other] {
            matched += rules
                .rules_for("shop")
                .filter(|r| r.when.matches(facts))
                .count();
        }
    }
    let allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;

    assert_eq!(allocations, 0);
    // Every rule holds for `request`, none for `other`: each primitive was evaluated.
    assert_eq!(matched, 100 * 20);
}
