//! Matching a 20-rule table (every kind of primitive, the table form too) against a
//! request where every rule holds (all of them evaluated) and one where none does
//! (short-circuits). `cargo bench -p hookgate-plugin-kit`; figures in BENCHMARKS.md.

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use hookgate_plugin_kit::FactsBuf;

#[path = "../tests/support/twenty_rules.rs"]
mod twenty_rules;

fn matching(c: &mut Criterion) {
    let rules = twenty_rules::rules();
    let every = twenty_rules::matching_request();
    let none = FactsBuf::new("DELETE", "elsewhere", "/");
    let mut group = c.benchmark_group("twenty_rules");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, facts) in [("all_hold", &every), ("none_hold", &none)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                rules
                    .rules_for(black_box("shop"))
                    .filter(|r| r.when.matches(black_box(facts)))
                    .count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
