//! Logging through the fake host, which records what the proxy would write.

use crate::log::{Level, BURST};
use crate::testing::{FakeRequest, LogRecord, TestPlugin};
use crate::{Outcome, Point, Registry};

fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
    crate::info!("configured with {config:?}");
    reg.on_found_product(|req| {
        crate::warn!("refusing {}", req.path());
        crate::debug!("details");
        Outcome::GoOn
    });
    Ok(())
}

#[test]
fn messages_carry_their_level_and_point() {
    let plugin = TestPlugin::init(init, "x = 1").unwrap();
    plugin.found_product(&mut FakeRequest::get("/a")).unwrap();
    let record = |level, point, message: &str| LogRecord {
        level,
        point,
        message: message.to_owned(),
        suppressed: 0,
    };
    assert_eq!(
        plugin.logs(),
        [
            record(Level::Info, None, "configured with \"x = 1\""),
            record(Level::Warn, Some(Point::FoundProduct), "refusing /a"),
            record(Level::Debug, Some(Point::FoundProduct), "details"),
        ]
    );
}

#[test]
fn each_instance_logs_to_its_own_host_log() {
    let first = TestPlugin::init(init, "1").unwrap();
    let second = TestPlugin::init(init, "2").unwrap();
    first
        .found_product(&mut FakeRequest::get("/first"))
        .unwrap();
    assert_eq!(first.logs().len(), 3);
    assert_eq!(second.logs().len(), 1, "{:?}", second.logs());
}

#[test]
fn a_call_site_is_rate_limited() {
    fn chatty(_: &str, reg: &mut Registry<'_>) -> Result<(), String> {
        reg.on_before_location(|_req| {
            for i in 0..3 * BURST {
                crate::error!("message {i}");
            }
            Outcome::GoOn
        });
        Ok(())
    }
    let plugin = TestPlugin::init(chatty, "").unwrap();
    plugin.before_location(&mut FakeRequest::get("/")).unwrap();
    let logs = plugin.logs();
    // Within one second at most BURST get through (two if the second turns over).
    assert!(
        !logs.is_empty() && logs.len() <= 2 * BURST as usize,
        "{}",
        logs.len()
    );
    assert_eq!(logs[0].message, "message 0");
}
