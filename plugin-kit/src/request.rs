//! [`RequestFacts`]: the SDK's [`Request`] as [`Facts`], so that a plugin matches its
//! rules on the request it is given.

use std::net::IpAddr;

use hookgate_plugin_api::Request;

use crate::Facts;

/// A plugin's request; its session's facts are read only when a condition asks.
pub struct RequestFacts<'r, 'a> {
    request: &'r Request<'a>,
}

impl<'r, 'a> RequestFacts<'r, 'a> {
    /// The facts of `request` and its session.
    pub fn of(request: &'r mut Request<'a>) -> RequestFacts<'r, 'a> {
        RequestFacts { request }
    }
}

impl Facts for RequestFacts<'_, '_> {
    fn method(&self) -> &str {
        self.request.method()
    }

    fn host(&self) -> &str {
        self.request.host()
    }

    fn path(&self) -> &str {
        self.request.path()
    }

    fn query(&self) -> Option<&str> {
        self.request.query()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.request.header(name)
    }

    fn header_values<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s str> {
        self.request.header_all(name)
    }

    fn client_ip(&self) -> Option<IpAddr> {
        Some(self.request.client_ip())
    }

    fn client_ip_trusted(&self) -> bool {
        self.request.client_ip() != self.request.remote_addr().ip()
    }

    fn peer_ip(&self) -> Option<IpAddr> {
        Some(self.request.remote_addr().ip())
    }

    fn is_secure(&self) -> bool {
        self.request.is_tls()
    }

    fn sni(&self) -> Option<&str> {
        self.request.sni()
    }

    fn port(&self) -> Option<u16> {
        Some(if self.request.is_tls() { 443 } else { 80 })
    }
}

#[cfg(test)]
mod tests {
    use hookgate_plugin_api::testing::{FakeRequest, FakeSession, TestPlugin};
    use hookgate_plugin_api::{Outcome, Registry, Reply};

    use super::*;
    use crate::Condition;

    fn init(config: &str, reg: &mut Registry<'_>) -> Result<(), String> {
        let condition = Condition::parse(config).map_err(|e| e.to_string())?;
        reg.on_found_product(move |req| {
            if condition.matches(&RequestFacts::of(req)) {
                Outcome::Respond(Reply::new(403))
            } else {
                Outcome::GoOn
            }
        });
        Ok(())
    }

    #[test]
    fn a_plugin_matches_its_request() {
        let plugin = TestPlugin::init(
            init,
            r#"req_path_prefix_in("/admin/", false) && req_header_value_in("x-debug", "1", false) && req_cip_range("10.0.0.0", "10.255.255.255")"#,
        )
        .expect("init");
        let denied =
            |req: &mut FakeRequest| matches!(plugin.found_product(req), Ok(Outcome::Respond(_)));
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(denied(
            &mut FakeRequest::get("/admin/x")
                .header("x-debug", "1")
                .client_ip(ip)
        ));
        assert!(!denied(&mut FakeRequest::get("/admin/x").client_ip(ip)));
        assert!(!denied(
            &mut FakeRequest::get("/admin/x")
                .header("x-debug", "1")
                .client_ip("192.0.2.1".parse().unwrap())
        ));
        assert!(!denied(
            &mut FakeRequest::get("/public")
                .header("x-debug", "1")
                .client_ip(ip)
        ));
    }

    /// The session's facts (TLS, SNI, the socket's peer) are read through the request,
    /// so `ses_*` conditions match in a plugin's rules too.
    #[test]
    fn session_conditions_match_in_a_plugin() {
        let plugin = TestPlugin::init(
            init,
            r#"ses_tls_sni_in("admin.example.com") && req_proto_secure()"#,
        )
        .expect("init");
        let denied =
            |req: &mut FakeRequest| matches!(plugin.found_product(req), Ok(Outcome::Respond(_)));
        let tls = |sni: &str| FakeRequest::get("/").session(FakeSession::new().tls(sni));
        assert!(denied(&mut tls("admin.example.com")));
        assert!(!denied(&mut tls("shop.example.com")));
        assert!(!denied(&mut FakeRequest::get("/")));
    }
}
