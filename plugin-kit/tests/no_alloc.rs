//! Evaluating a compiled rule table allocates nothing: a counting global allocator
//! watches 20 rules evaluated against a request that exercises every kind of primitive.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use hookgate_plugin_kit::FactsBuf;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted: only the test's, around the
    /// evaluation. (Counting every thread's made the test fail under load, when the
    /// test harness's own threads allocated in the window.)
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
    }
}

// Forwards to the system allocator and counts the allocations of the thread that asked.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[path = "support/twenty_rules.rs"]
mod twenty_rules;

#[test]
fn evaluating_a_compiled_twenty_rule_table_allocates_nothing() {
    let rules = twenty_rules::rules();
    assert_eq!(rules.rules_for("shop").count(), 20);
    let request = twenty_rules::matching_request();
    let other = FactsBuf::new("DELETE", "elsewhere", "/");

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.with(|on| on.set(true));
    let mut matched = 0;
    for _ in 0..100 {
        for facts in [&request, &other] {
            matched += rules
                .rules_for("shop")
                .filter(|r| r.when.matches(facts))
                .count();
        }
    }
    COUNTING.with(|on| on.set(false));
    let allocations = ALLOCATIONS.load(Ordering::SeqCst) - before;

    assert_eq!(allocations, 0);
    // Every rule holds for `request`, none for `other`: each primitive was evaluated.
    assert_eq!(matched, 100 * 20);
}
