//! The userspace PROXY protocol v2 path of `tcp_proxy = proxy_open` services (SPEC R4).
//!
//! One thread per gateway shard that has such endpoints, inside the shard's namespace, runs a
//! current-thread tokio runtime: every socket it opens (listeners, connections to backends) is
//! therefore in that namespace, with no namespace switch per connection. Each consumer leg with
//! proxied mappings gets one listener on the leg's SNAT address ([`ProxyListener`]); nftables
//! DNATs the mappings' new connections to it (see `plan/proxy.rs`). A connection's original
//! destination (endpoint address and client port) comes back from conntrack
//! (`SO_ORIGINAL_DST`); with the leg (zone) it names the route: endpoint id and backend. The proxy
//! connects from the same SNAT address to the backend over the provider leg (`SO_MARK` = that
//! leg's routing table), sends the header (`header.rs`) and then relays both ways with `splice(2)` (`splice.rs`).
//!
//! The agent drives it through the kernel layer after each apply ([`Proxies::sync`], the same
//! change feed, no timer): listeners open and close as proxied mappings come and go; routes are
//! swapped atomically, so a `tcp_proxy` change moves new connections while established ones
//! finish where they started; an endpoint that stops carrying traffic loses its relayed
//! connections too ([`Proxies::cut`]), as kernel-path flows lose their conntrack entries.

pub mod header;
mod splice;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use nix::sys::socket::{getsockopt, setsockopt, sockopt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use crate::kernel::watch::NETNS_DIR;
use crate::plan::Plan;
use crate::plan::naming::Namespaces;
use crate::plan::proxy::{ProxyListener, ProxyRoute};

/// Accept backlog of a listener.
const BACKLOG: u32 = 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Sockopt(#[from] nix::Error),
    #[error(transparent)]
    Header(#[from] header::HeaderError),
}

/// Where one proxied mapping goes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    endpoint_id: Arc<str>,
    backend: SocketAddrV4,
    mark: u32,
}

/// (zone, endpoint address, client port) → target.
type Routes = HashMap<(u16, Ipv4Addr, u16), Target>;
/// (zone, endpoint address) → the relays running for it.
type Relays = HashMap<(u16, Ipv4Addr), Vec<AbortHandle>>;

enum Command {
    /// Listen on exactly these; answer with the ones that could not be opened.
    Listen(
        BTreeSet<ProxyListener>,
        oneshot::Sender<Vec<(ProxyListener, std::io::Error)>>,
    ),
}

/// One gateway shard's proxy thread, seen from the agent.
struct Shard {
    /// The namespace the thread entered (device and inode of its nsfs handle): a namespace of
    /// the same name made anew (deleted behind our back) needs a new thread.
    ns_id: (u64, u64),
    routes: Arc<RwLock<Routes>>,
    relays: Arc<Mutex<Relays>>,
    commands: mpsc::UnboundedSender<Command>,
    /// What was last put in place without error (a repeat converge costs nothing).
    synced: Option<BTreeSet<ProxyRoute>>,
}

/// Every shard's proxy; lives in the kernel layer next to the netlink sockets.
#[derive(Default)]
pub struct Proxies {
    shards: BTreeMap<String, Shard>,
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxies")
            .field("shards", &self.shards.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn namespace_id(ns: &str) -> std::io::Result<(u64, u64)> {
    let m = std::fs::metadata(format!("{NETNS_DIR}/{ns}"))?;
    Ok((m.dev(), m.ino()))
}

impl Proxies {
    /// Bring listeners and routes to what `plan` asks for. Called after the kernel applied the
    /// plan (the listeners' addresses exist by then), so an endpoint is reported `accepted` only
    /// once its proxy listens.
    pub async fn sync(&mut self, names: &Namespaces, plan: &Plan) {
        let mut wanted: BTreeMap<String, BTreeSet<ProxyRoute>> = BTreeMap::new();
        for r in &plan.proxies {
            wanted
                .entry(names.gateway(r.shard))
                .or_default()
                .insert(r.clone());
        }
        // A shard whose namespace left the plan goes with its thread; one that merely has no
        // proxied mapping left keeps its thread, so established relays finish.
        self.shards
            .retain(|ns, _| plan.namespaces.contains_key(ns) || wanted.contains_key(ns));
        let idle: Vec<String> = self
            .shards
            .keys()
            .filter(|ns| !wanted.contains_key(*ns))
            .cloned()
            .collect();
        for ns in idle {
            wanted.insert(ns, BTreeSet::new());
        }
        for (ns, routes) in wanted {
            if let Err(e) = self.sync_shard(&ns, routes).await {
                tracing::warn!(namespace = ns, error = %e, "PROXY-v2 listeners not in place; retried at the next converge");
            }
        }
    }

    async fn sync_shard(&mut self, ns: &str, routes: BTreeSet<ProxyRoute>) -> std::io::Result<()> {
        let id = namespace_id(ns)?;
        if self.shards.get(ns).is_some_and(|s| s.ns_id != id) {
            tracing::info!(namespace = ns, "namespace made anew: its proxy starts over");
            self.shards.remove(ns);
        }
        if !self.shards.contains_key(ns) {
            if routes.is_empty() {
                return Ok(());
            }
            let shard = Shard::spawn(ns, id).await?;
            self.shards.insert(ns.to_string(), shard);
        }
        let Some(shard) = self.shards.get_mut(ns) else {
            return Ok(());
        };
        if shard.synced.as_ref() == Some(&routes) {
            return Ok(());
        }
        shard.synced = None;
        let table: Routes = routes
            .iter()
            .map(|r| {
                (
                    (r.zone, r.endpoint_ip, r.client_port),
                    Target {
                        endpoint_id: Arc::from(r.endpoint_id.as_str()),
                        backend: r.backend,
                        mark: r.provider_mark,
                    },
                )
            })
            .collect();
        let listeners: BTreeSet<ProxyListener> = routes.iter().map(ProxyRoute::listener).collect();
        // Routes first: a listener opened below must find its mappings at once.
        *shard.routes.write().unwrap_or_else(|e| e.into_inner()) = table;
        let (tx, rx) = oneshot::channel();
        shard
            .commands
            .send(Command::Listen(listeners, tx))
            .map_err(|_| std::io::Error::other("proxy thread ended"))?;
        let failed = rx
            .await
            .map_err(|_| std::io::Error::other("proxy thread ended"))?;
        if let Some((l, e)) = failed.into_iter().next() {
            return Err(std::io::Error::new(
                e.kind(),
                format!("listen on {}: {e}", l.addr),
            ));
        }
        shard.synced = Some(routes);
        Ok(())
    }

    /// End the relayed connections of endpoint `ip` on leg `zone` of `gateway_ns` (it no longer
    /// carries traffic).
    pub fn cut(&self, gateway_ns: &str, zone: u16, ip: Ipv4Addr) {
        let Some(shard) = self.shards.get(gateway_ns) else {
            return;
        };
        let cut = shard
            .relays
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(zone, ip));
        for h in cut.into_iter().flatten() {
            h.abort();
        }
    }
}

impl Shard {
    /// Start the shard's thread inside namespace `ns`.
    async fn spawn(ns: &str, ns_id: (u64, u64)) -> std::io::Result<Shard> {
        let path = format!("{NETNS_DIR}/{ns}");
        let routes = Arc::new(RwLock::new(Routes::new()));
        let relays = Arc::new(Mutex::new(Relays::new()));
        let (commands, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready) = oneshot::channel::<std::io::Result<()>>();
        let (r, rl) = (routes.clone(), relays.clone());
        std::thread::Builder::new()
            .name("vpcep-proxy".into())
            .spawn(move || {
                let runtime = std::fs::File::open(&path)
                    .and_then(|f| {
                        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
                            .map_err(std::io::Error::from)
                    })
                    .and_then(|()| {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                    });
                match runtime {
                    Ok(rt) => {
                        let _ = ready_tx.send(Ok(()));
                        rt.block_on(serve_shard(rx, r, rl));
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })?;
        ready
            .await
            .map_err(|_| std::io::Error::other("proxy thread ended"))??;
        tracing::debug!(namespace = ns, "PROXY-v2 proxy started");
        Ok(Shard {
            ns_id,
            routes,
            relays,
            commands,
            synced: None,
        })
    }
}

/// The shard thread: keep the asked-for listeners open until the agent drops the shard (then
/// the runtime, its relays with it, ends).
async fn serve_shard(
    mut commands: mpsc::UnboundedReceiver<Command>,
    routes: Arc<RwLock<Routes>>,
    relays: Arc<Mutex<Relays>>,
) {
    let mut open: BTreeMap<ProxyListener, tokio::task::JoinHandle<()>> = BTreeMap::new();
    while let Some(Command::Listen(want, reply)) = commands.recv().await {
        open.retain(|l, h| {
            let keep = want.contains(l) && !h.is_finished();
            if !keep {
                h.abort();
            }
            keep
        });
        let mut failed = Vec::new();
        for l in want {
            if open.contains_key(&l) {
                continue;
            }
            match listen(&l) {
                Ok(listener) => {
                    let task = accept_loop(listener, l, routes.clone(), relays.clone());
                    open.insert(l, tokio::spawn(task));
                }
                Err(e) => failed.push((l, e)),
            }
        }
        let _ = reply.send(failed);
    }
    for h in open.values() {
        h.abort();
    }
}

fn listen(l: &ProxyListener) -> std::io::Result<TcpListener> {
    let s = TcpSocket::new_v4()?;
    s.set_reuseaddr(true)?;
    // Replies (SYN-ACKs included) are routed by the leg's table: consumer CIDRs of different
    // VPCs may be the same, only the mark tells their legs apart. Accepted sockets inherit it.
    setsockopt(&s, sockopt::Mark, &l.mark).map_err(std::io::Error::from)?;
    s.bind(SocketAddr::V4(l.addr))?;
    s.listen(BACKLOG)
}

async fn accept_loop(
    listener: TcpListener,
    l: ProxyListener,
    routes: Arc<RwLock<Routes>>,
    relays: Arc<Mutex<Relays>>,
) {
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors or memory: pause instead of spinning on the error.
                tracing::warn!(listener = %l.addr, error = %e, "proxy accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let SocketAddr::V4(peer) = peer else {
            continue;
        };
        // The endpoint address and port the consumer asked for, from the DNAT's conntrack entry.
        let dst = match getsockopt(&client, sockopt::OriginalDst) {
            Ok(sa) => SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)),
                u16::from_be(sa.sin_port),
            ),
            Err(e) => {
                tracing::debug!(listener = %l.addr, error = %e, "no original destination; closed");
                continue;
            }
        };
        let target = routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(l.zone, *dst.ip(), dst.port()))
            .cloned();
        let Some(target) = target else {
            // A mapping switched away between DNAT and accept: nothing to serve it with.
            tracing::debug!(listener = %l.addr, %dst, "no proxied mapping; closed");
            continue;
        };
        let relay = tokio::spawn(relay(client, peer, dst, *l.addr.ip(), target));
        let mut running = relays.lock().unwrap_or_else(|e| e.into_inner());
        let list = running.entry((l.zone, *dst.ip())).or_default();
        list.retain(|h| !h.is_finished());
        list.push(relay.abort_handle());
    }
}

async fn relay(
    mut client: TcpStream,
    peer: SocketAddrV4,
    dst: SocketAddrV4,
    local: Ipv4Addr,
    t: Target,
) {
    match relay_inner(&mut client, peer, dst, local, &t).await {
        Ok((up, down)) => {
            tracing::trace!(endpoint = &*t.endpoint_id, %peer, up, down, "proxied connection ended")
        }
        Err(e) => {
            tracing::debug!(endpoint = &*t.endpoint_id, %peer, backend = %t.backend, error = %e, "proxied connection failed");
            // A reset, as the kernel path would pass on the backend's refusal.
            let _ = client.set_zero_linger();
        }
    }
}

async fn relay_inner(
    client: &mut TcpStream,
    peer: SocketAddrV4,
    dst: SocketAddrV4,
    local: Ipv4Addr,
    t: &Target,
) -> Result<(u64, u64), ProxyError> {
    let s = TcpSocket::new_v4()?;
    // Out of the provider leg, from the leg's SNAT address: the backend sees 198.19.128.0/20
    // as on the kernel path, and answers through its router's route to the shard.
    setsockopt(&s, sockopt::Mark, &t.mark)?;
    s.bind(SocketAddr::V4(SocketAddrV4::new(local, 0)))?;
    let mut upstream = s.connect(SocketAddr::V4(t.backend)).await?;
    // Small writes (one-byte round trips) go at once, as on the kernel path.
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    let h = header::encode(peer, dst, &t.endpoint_id)?;
    tokio::io::AsyncWriteExt::write_all(&mut upstream, &h).await?;
    Ok(splice::bidirectional(client, &upstream).await?)
}
