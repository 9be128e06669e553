//! The lookups of backend names: [`resolve_new`] once for the names a config adds,
//! and one periodic task per name ([`Resolvers`]).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{self, Instant, MissedTickBehavior};

use super::names::{Names, Recorded};
use crate::config::{BackendName, Config};

/// The longest one lookup may take; past it, it counts as failed.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The addresses `name` resolves to now (`getaddrinfo` on tokio's blocking pool, so
/// `/etc/hosts` and `localhost` work as for any program), within 5 seconds.
///
/// # Errors
///
/// The resolver's error, or that it did not answer in time.
pub async fn lookup(name: &BackendName) -> Result<Vec<SocketAddr>, String> {
    match time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host(name.to_string())).await {
        Ok(Ok(addrs)) => Ok(addrs.collect()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {} s", LOOKUP_TIMEOUT.as_secs())),
    }
}

/// Where a config uses one name, and how often it is resolved again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameUse {
    /// The shortest `resolve_interval_ms` of the clusters that use it.
    pub interval: Duration,
    /// The keys of the backends given by it
    /// (`clusters.C.subclusters.S.backends[i].addr`), for logs.
    pub keys: Vec<String>,
}

/// Every name the backends of `config` are given by.
pub fn names_in(config: &Config) -> BTreeMap<BackendName, NameUse> {
    let mut uses: BTreeMap<BackendName, NameUse> = BTreeMap::new();
    for (cluster_name, cluster) in &config.clusters {
        let interval = Duration::from_millis(cluster.resolve_interval_ms);
        for (sub, subcluster) in &cluster.subclusters {
            for (i, backend) in subcluster.backends.iter().enumerate() {
                let Some(name) = backend.addr.name() else {
                    continue;
                };
                let key = format!("clusters.{cluster_name}.subclusters.{sub}.backends[{i}].addr");
                let entry = uses.entry(name.clone()).or_insert_with(|| NameUse {
                    interval,
                    keys: Vec::new(),
                });
                entry.interval = entry.interval.min(interval);
                entry.keys.push(key);
            }
        }
    }
    uses
}

/// Resolves, all at once, the names of `config` that `names` has no lookup of yet (at
/// start, before the proxy serves, and on reload, before the new config is built).
/// A name that fails is logged, naming its backends, and left without addresses; it
/// does not stop the proxy.
pub async fn resolve_new(config: &Config, names: &Names) {
    let mut lookups = JoinSet::new();
    for (name, name_use) in names_in(config) {
        if names.knows(&name) {
            continue;
        }
        let names = names.clone();
        lookups.spawn(async move {
            let recorded = names.record(&name, lookup(&name).await);
            report(&name, &name_use, &recorded, &names);
        });
    }
    while lookups.join_next().await.is_some() {}
}

/// Logs what a lookup changed: a new error (naming the backends), a recovery, new
/// addresses.
fn report(name: &BackendName, name_use: &NameUse, recorded: &Recorded, names: &Names) {
    let backends = name_use.keys.join(", ");
    if recorded.new_error {
        let kept = names.addrs(name);
        let cause = recorded.error.as_deref().unwrap_or("?");
        if kept.is_empty() {
            tracing::error!(
                %name, %backends, %cause,
                "backend name does not resolve: it has no backend until it does"
            );
        } else {
            tracing::warn!(
                %name, %backends, %cause, kept = ?kept,
                "backend name does not resolve now: its last addresses stay"
            );
        }
    }
    if recorded.recovered {
        tracing::info!(%name, %backends, "backend name resolves again");
    }
    if recorded.addrs_changed {
        tracing::info!(%name, %backends, addrs = ?names.addrs(name), "backend name resolved");
    }
}

/// The periodic resolver tasks of the running proxy, one per name in its config.
#[derive(Debug, Default)]
pub struct Resolvers {
    running: Mutex<HashMap<BackendName, (NameUse, JoinHandle<()>)>>,
}

/// What a resolver task calls when its name's addresses changed.
pub type OnChange = Arc<dyn Fn() + Send + Sync>;

impl Resolvers {
    /// Makes the running tasks those of the names in `config`: a name whose use is
    /// unchanged keeps its task, the others are started (the first lookup one
    /// interval from now: [`resolve_new`] did the first) or stopped. Tasks stop when
    /// `shutdown` changes. Must be called inside a tokio runtime.
    pub fn reconcile(
        &self,
        config: &Config,
        names: &Names,
        on_change: &OnChange,
        shutdown: &watch::Receiver<bool>,
    ) {
        let wanted = names_in(config);
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.retain(|name, (name_use, task)| {
            let keep = wanted.get(name) == Some(name_use) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for (name, name_use) in wanted {
            if running.contains_key(&name) {
                continue;
            }
            let task = tokio::spawn(run(
                name.clone(),
                name_use.clone(),
                names.clone(),
                Arc::clone(on_change),
                shutdown.clone(),
                |name: BackendName| async move { lookup(&name).await },
            ));
            running.insert(name, (name_use, task));
        }
    }

    /// Stops every task.
    pub fn stop(&self) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, (_, task)) in running.drain() {
            task.abort();
        }
    }
}

/// One name's loop: a lookup every interval (the next one an interval after the
/// last ended; `resolve` is [`lookup`] but for tests), recorded; `on_change` when the
/// addresses changed.
async fn run<F, Lookup>(
    name: BackendName,
    name_use: NameUse,
    names: Names,
    on_change: OnChange,
    mut shutdown: watch::Receiver<bool>,
    resolve: F,
) where
    F: Fn(BackendName) -> Lookup,
    Lookup: Future<Output = Result<Vec<SocketAddr>, String>>,
{
    if *shutdown.borrow_and_update() {
        return;
    }
    let interval = name_use.interval.max(Duration::from_millis(1));
    let mut ticks = time::interval_at(Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.changed() => return,
        }
        let result = tokio::select! {
            result = resolve(name.clone()) => result,
            _ = shutdown.changed() => return,
        };
        let recorded = names.record(&name, result);
        report(&name, &name_use, &recorded, &names);
        if recorded.addrs_changed {
            on_change();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex as StdMutex;

    use super::*;

    fn name() -> BackendName {
        BackendName {
            host: Arc::from("api.internal"),
            port: 80,
        }
    }

    fn addr(n: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, n], 80))
    }

    /// The loop on tokio's paused clock, with a scripted resolver: a lookup every
    /// interval, each recorded; `on_change` only when the addresses changed; a
    /// failure keeps the addresses; shutdown ends it.
    #[tokio::test(start_paused = true)]
    async fn a_name_is_resolved_every_interval_and_changes_are_told() {
        let script = Arc::new(StdMutex::new(vec![
            Ok(vec![addr(1)]),
            Ok(vec![addr(1)]),
            Err("SERVFAIL".to_owned()),
            Ok(vec![addr(2), addr(1)]),
        ]));
        let lookups = Arc::new(AtomicUsize::new(0));
        let changes = Arc::new(AtomicUsize::new(0));
        let names = Names::default();
        let (stop, shutdown) = watch::channel(false);
        let name_use = NameUse {
            interval: Duration::from_secs(5),
            keys: vec!["clusters.c.subclusters.s.backends[0].addr".into()],
        };
        let on_change: OnChange = {
            let changes = Arc::clone(&changes);
            Arc::new(move || {
                changes.fetch_add(1, Ordering::SeqCst);
            })
        };
        let resolve = {
            let (script, lookups) = (Arc::clone(&script), Arc::clone(&lookups));
            move |_: BackendName| {
                lookups.fetch_add(1, Ordering::SeqCst);
                let next = script.lock().unwrap().pop();
                async move { next.unwrap_or_else(|| Err("script over".into())) }
            }
        };
        // The script pops from the end: reverse it into order.
        script.lock().unwrap().reverse();
        let task = tokio::spawn(run(
            name(),
            name_use,
            names.clone(),
            on_change,
            shutdown,
            resolve,
        ));
        let step = |secs| tokio::time::sleep(Duration::from_secs(secs));
        step(4).await;
        assert_eq!(
            lookups.load(Ordering::SeqCst),
            0,
            "the first lookup is resolve_new's"
        );
        step(2).await;
        assert_eq!(lookups.load(Ordering::SeqCst), 1);
        assert_eq!(names.addrs(&name()), [addr(1)]);
        assert_eq!(changes.load(Ordering::SeqCst), 1);
        step(5).await;
        assert_eq!(lookups.load(Ordering::SeqCst), 2);
        assert_eq!(changes.load(Ordering::SeqCst), 1, "same addresses");
        step(5).await;
        assert_eq!(names.addrs(&name()), [addr(1)], "kept through a failure");
        assert_eq!(changes.load(Ordering::SeqCst), 1);
        step(5).await;
        assert_eq!(names.addrs(&name()), [addr(1), addr(2)]);
        assert_eq!(changes.load(Ordering::SeqCst), 2);
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn localhost_resolves_through_the_system_resolver() {
        let localhost = BackendName {
            host: Arc::from("localhost"),
            port: 8080,
        };
        let addrs = lookup(&localhost).await.unwrap();
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8080),
            "{addrs:?}"
        );
        let missing = BackendName {
            host: Arc::from("no-such-backend.invalid"),
            port: 80,
        };
        assert!(lookup(&missing).await.is_err());
    }

    #[test]
    fn names_are_collected_with_their_keys_and_shortest_interval() {
        let text = r#"
            [clusters.a]
            resolve_interval_ms = 2000
            [clusters.a.subclusters.s]
            weight = 1
            backends = [{ addr = "api.internal:80" }, { addr = "10.0.0.1:80" }]
            [clusters.b]
            [clusters.b.subclusters.t]
            weight = 1
            backends = [{ addr = "API.internal.:80" }, { addr = "db.internal:5432" }]
        "#;
        let config: Config = toml::from_str(text).unwrap();
        let uses = names_in(&config);
        let api = &uses[&name()];
        assert_eq!(api.interval, Duration::from_secs(2));
        assert_eq!(
            api.keys,
            [
                "clusters.a.subclusters.s.backends[0].addr",
                "clusters.b.subclusters.t.backends[0].addr"
            ]
        );
        assert_eq!(uses.len(), 2);
    }
}
