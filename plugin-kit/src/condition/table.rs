//! The TOML table form of a condition, e.g. `{ path_prefix = "/api/", method = "GET" }`:
//! each key stands for one BFE primitive and all keys must hold.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::primitive::{self, How, IpRange, Primitive, Values};
use super::{Condition, Expr};

/// The keys as written. Fields are compiled in this order, so the table
/// `{ path_prefix = "/a/", method = "GET" }` equals
/// `req_method_in("GET") && req_path_prefix_in("/a/", false)`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Table {
    /// `req_host_in`: case-insensitive, the request's port ignored.
    host: Option<List>,
    /// `req_method_in`.
    method: Option<List>,
    /// `req_path_in(.., false)`.
    path: Option<List>,
    /// `req_path_prefix_in(.., false)`.
    path_prefix: Option<List>,
    /// `req_header_value_in(name, value, false)`, or `req_header_key_in(name)`.
    header: Option<Header>,
    /// `req_cip_range` over each network, joined with `||`.
    client_ip: Option<List>,
    /// A BFE expression, joined last with `&&`.
    cond: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: String,
    value: Option<String>,
}

impl Table {
    /// The tree; errors start with the key that failed.
    pub(super) fn compile(self) -> Result<Condition, String> {
        let mut expr: Option<Expr> = None;
        let mut push = |p: Primitive| expr = Some(Expr::and(expr.take(), Expr::Primitive(p)));
        if let Some(List(hosts)) = self.host {
            if let Some(h) = hosts.iter().find(|h| h.contains(':')) {
                return Err(format!("host: a host must not include a port ({h:?})"));
            }
            push(Primitive::HostIn(primitive::lower(hosts)));
        }
        if let Some(List(methods)) = self.method {
            push(Primitive::MethodIn(primitive::upper(methods)));
        }
        for (key, how, paths) in [
            ("path", How::In, self.path),
            ("path_prefix", How::Prefix, self.path_prefix),
        ] {
            if let Some(List(paths)) = paths {
                if let Some(p) = paths.iter().find(|p| !p.starts_with('/')) {
                    return Err(format!("{key}: a path must start with '/' ({p:?})"));
                }
                push(Primitive::Path(Values::new(how, paths, false)));
            }
        }
        if let Some(Header { name, value }) = self.header {
            let name = name.to_ascii_lowercase();
            push(match value {
                Some(value) => Primitive::HeaderValue {
                    name,
                    values: Values::new(How::In, vec![value], false),
                },
                None => Primitive::HeaderKeyIn(vec![name]),
            });
        }
        if let Some(List(nets)) = self.client_ip {
            let mut any: Option<Expr> = None;
            for text in nets {
                let net = text
                    .parse::<IpNet>()
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("client_ip: {text:?} is not an address or a network"))?;
                let range = IpRange::new(net.network(), net.broadcast())
                    .map_err(|m| format!("client_ip: {m}"))?;
                let p = Expr::Primitive(Primitive::CipRange(range));
                any = Some(match any {
                    Some(left) => Expr::Or(Box::new(left), Box::new(p)),
                    None => p,
                });
            }
            match any {
                Some(any) => expr = Some(Expr::and(expr, any)),
                None => return Err("client_ip: the list is empty".to_owned()),
            }
        }
        if let Some(text) = self.cond {
            let cond = Condition::parse(&text).map_err(|e| format!("cond: {e}"))?;
            expr = Some(Expr::and(expr, cond.expr));
        }
        Ok(Condition {
            expr: expr.unwrap_or(Expr::Primitive(Primitive::DefaultT)),
        })
    }
}

/// A string or a list of strings; a list holds alternatives.
struct List(Vec<String>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<List, D::Error> {
        deserializer.deserialize_any(ListVisitor)
    }
}

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = List;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a list of strings")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<List, E> {
        Ok(List(vec![s.to_owned()]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<String>()? {
            items.push(item);
        }
        if items.is_empty() {
            return Err(de::Error::custom("the list is empty"));
        }
        Ok(List(items))
    }
}
