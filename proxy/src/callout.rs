//! Callouts (plugin API 0.2.2): the HTTP requests a waiting handler started, sent by
//! the host while the request waits without holding a worker ([`run_all`]).
//!
//! A callout goes to a cluster of the request's configuration (`cluster:NAME`: a
//! backend chosen by the cluster's balancing for the client's IP, over its pooled
//! connections, TLS and protocol, skipping backends marked down) or to a URL
//! (`http://` or `https://`; a name is resolved like a backend's, `https` verified
//! against the system's CAs and the host name; one pool per scheme, host and port,
//! kept for the process). Each has a timeout and a body limit (its own, else 1 s and
//! 64 KiB); a callout never runs plugin chains. A Redis command (0.2.3) goes to its
//! store ([`RedisStores`](crate::redis_store::RedisStores)).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use hookgate_plugin_api::abi::{Ask, CalloutResultAbi, CalloutSpecAbi, RString, RVec, Tuple2};
use http::header::{HeaderName, HeaderValue, HOST};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};

use crate::config::{BackendName, BackendProtocol, BackendTlsConfig};
use crate::snapshot::Snapshot;
use crate::upstream::{BackendTls, Connections, Endpoint, Timeouts, Transport};

/// A callout's time limit when it sets none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// A callout's response body limit when it sets none.
const DEFAULT_BODY_LIMIT: u64 = 64 * 1024;

/// Sends every callout at once and waits for all: each result in the order given.
pub async fn run_all(
    snapshot: &Snapshot,
    client_ip: IpAddr,
    callouts: &[Ask],
) -> RVec<CalloutResultAbi> {
    let each = callouts.iter().map(|ask| async move {
        let spec = match ask {
            Ask::Http(spec) => spec,
            Ask::Redis(command) => return snapshot.redis.run(command).await,
        };
        let limit = match spec.timeout_ms {
            0 => DEFAULT_TIMEOUT,
            ms => Duration::from_millis(ms),
        };
        match tokio::time::timeout(limit, one(snapshot, client_ip, spec)).await {
            Ok(Ok(result)) => result,
            Ok(Err(error)) => failed(error),
            Err(_) => failed("timeout".to_owned()),
        }
    });
    futures_util::future::join_all(each).await.into()
}

/// Each callout's target with its result's status and error (for spans).
pub fn described<'a>(
    callouts: &'a [Ask],
    results: &'a [CalloutResultAbi],
) -> impl Iterator<Item = (String, u16, Option<String>)> + 'a {
    callouts.iter().zip(results).map(|(ask, result)| {
        let target = match ask {
            Ask::Http(spec) => spec.target.to_string(),
            Ask::Redis(spec) => format!("redis:{}", spec.store.as_str()),
        };
        let error = result.error.as_ref().into_option().map(|e| e.to_string());
        (target, result.status, error)
    })
}

fn failed(error: String) -> CalloutResultAbi {
    CalloutResultAbi {
        error: Some(RString::from(error)).into(),
        ..CalloutResultAbi::default()
    }
}

/// One callout, without its time limit.
async fn one(
    snapshot: &Snapshot,
    client_ip: IpAddr,
    spec: &CalloutSpecAbi,
) -> Result<CalloutResultAbi, String> {
    let method = Method::from_bytes(spec.method.as_bytes())
        .map_err(|_| format!("bad method {:?}", spec.method.as_str()))?;
    let target = spec.target.as_str();
    let (backed, path, host, timeouts) = match target.strip_prefix("cluster:") {
        Some(name) => {
            let cluster = snapshot
                .clusters
                .get(name)
                .ok_or_else(|| format!("no cluster {name:?}"))?;
            let index = cluster
                .subcluster(client_ip, &[])
                .ok_or_else(|| format!("cluster {name:?} has no healthy backend"))?;
            let backend = cluster
                .subclusters
                .get(index)
                .and_then(|s| s.backend(cluster.balance, client_ip, &[]))
                .ok_or_else(|| format!("cluster {name:?} has no healthy backend"))?;
            let timeouts = cluster.timeouts();
            let host = backend.name.to_string();
            let path = if spec.path.is_empty() {
                "/".to_owned()
            } else {
                spec.path.to_string()
            };
            (Backed::Backend(backend), path, host, timeouts)
        }
        None => {
            let uri: Uri = target.parse().map_err(|_| format!("bad URL {target:?}"))?;
            let (connections, host) = url_connections(&uri).await?;
            let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
            let timeouts = Timeouts {
                connect: DEFAULT_TIMEOUT,
                response: DEFAULT_TIMEOUT,
                read: DEFAULT_TIMEOUT,
                send: DEFAULT_TIMEOUT,
            };
            (Backed::Url(connections), path, host, timeouts)
        }
    };
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(Bytes::copy_from_slice(spec.body.as_slice())))
        .map_err(|e| format!("bad request: {e}"))?;
    for Tuple2(name, value) in spec.headers.iter() {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("bad header name {:?}", name.as_str()))?;
        let value = HeaderValue::from_str(value.as_str())
            .map_err(|_| format!("bad value of header {name}"))?;
        request.headers_mut().append(name, value);
    }
    if !request.headers().contains_key(HOST) {
        let host = HeaderValue::from_str(&host).map_err(|_| format!("bad host {host:?}"))?;
        request.headers_mut().insert(HOST, host);
    }
    let response = match &backed {
        Backed::Backend(backend) => backend.connections().send(request, timeouts).await,
        Backed::Url(connections) => connections.send(request, timeouts).await,
    }
    .map_err(|e| e.to_string())?;
    let (head, body) = response.into_parts();
    let limit = match spec.body_limit {
        0 => DEFAULT_BODY_LIMIT,
        n => n,
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                "body over limit".to_owned()
            } else {
                format!("body: {e}")
            }
        })?
        .to_bytes();
    let headers = (head.headers.iter())
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some(Tuple2(RString::from(name.as_str()), RString::from(value)))
        })
        .collect();
    Ok(CalloutResultAbi {
        status: head.status.as_u16(),
        headers,
        body: body.to_vec().into(),
        error: None.into(),
    })
}

/// Where a callout goes: a cluster's backend, or a URL's own connections.
enum Backed {
    Backend(Arc<crate::balance::Backend>),
    Url(Arc<Connections>),
}

/// The connections to a URL's host and port (made once per scheme, host and port),
/// and its `Host`.
pub(crate) async fn url_connections(uri: &Uri) -> Result<(Arc<Connections>, String), String> {
    static POOLS: LazyLock<Mutex<HashMap<String, Arc<Connections>>>> =
        LazyLock::new(Default::default);
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(format!("{uri}: not an http:// or https:// URL")),
    };
    let authority = uri.authority().ok_or_else(|| format!("{uri}: no host"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
    let key = format!("{}://{host}:{port}", if https { "https" } else { "http" });
    if let Some(found) = POOLS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return Ok((Arc::clone(found), authority.to_string()));
    }
    let (addr, name): (SocketAddr, Option<&str>) = match host.parse::<IpAddr>() {
        Ok(ip) => (SocketAddr::new(ip, port), None),
        Err(_) => {
            let backend = BackendName {
                host: Arc::from(host.to_ascii_lowercase()),
                port,
            };
            let addrs = crate::resolve::lookup(&backend).await?;
            let first = addrs
                .first()
                .copied()
                .ok_or_else(|| format!("{host}: no address"))?;
            (first, Some(host))
        }
    };
    let transport = if https {
        let config = BackendTlsConfig {
            sni: None,
            verify: true,
            ca: None,
            client_cert: None,
            client_key: None,
        };
        let tls = BackendTls::load("callout", &config, BackendProtocol::Http1)
            .map_err(|e| format!("TLS ({}): {}", e.key, e.message))?;
        Transport::of(Some(&Arc::new(tls)), addr, name)
    } else {
        Transport::Tcp
    };
    let connections = Arc::new(Connections::new(
        addr,
        Endpoint {
            transport,
            ..Endpoint::default()
        },
    ));
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    let kept = pools.entry(key).or_insert(connections);
    Ok((Arc::clone(kept), authority.to_string()))
}
