//! The resolver: one hickory [`Server`] per VPC, all sharing one set of views.
//!
//! See the crate documentation for why the VPC of a query is taken from the
//! socket it arrived on (one `Server` per VPC) and not from its source address.

use std::collections::HashMap;
use std::iter;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{
    Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_server::proto::rr::rdata::{A, SOA};
use hickory_server::proto::rr::{DNSClass, LowerName, Name, RData, Record, RecordType};
use hickory_server::resolver::config::{ConnectionConfig, NameServerConfig};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::forwarder::{ForwardConfig, ForwardZoneHandler};
use hickory_server::zone_handler::{Catalog, MessageResponseBuilder, ZoneHandler};
use tracing::{debug, info, warn};

use crate::views::{self, ViewError, Views};

/// Resolver settings, fixed at start.
#[derive(Debug, Clone)]
pub struct ResolverConfig {
    /// Where names outside the private suffixes go. `None`: they get REFUSED
    /// at once (a resolver with no upstream must never make clients wait).
    pub upstream: Option<SocketAddr>,
    /// How long a forwarded query may take before the client gets SERVFAIL.
    pub forward_timeout: Duration,
    /// Suffixes the views own: a missing name under one of them is NXDOMAIN
    /// (authoritative) instead of being forwarded, so private names never leak
    /// to the upstream.
    pub private_suffixes: Vec<String>,
    /// TTL of private answers and of their negative answers (SOA minimum).
    /// Short, so a removed name stops resolving soon at a caching forwarder.
    pub ttl: u32,
    /// Idle timeout of a TCP client connection (hickory closes it after this).
    pub tcp_idle_timeout: Duration,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        Self {
            upstream: None,
            forward_timeout: Duration::from_secs(2),
            private_suffixes: vec!["internal.".to_owned()],
            ttl: 5,
            tcp_idle_timeout: Duration::from_secs(5),
        }
    }
}

/// Errors of the resolver API.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("invalid private suffix {suffix:?}: {source}")]
    InvalidSuffix { suffix: String, source: ViewError },
    #[error("invalid record: {0}")]
    View(#[from] ViewError),
    #[error("cannot build the upstream forwarder: {0}")]
    Forwarder(String),
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// Shared, runtime-updatable handle on the views. Cheap to clone; every change
/// is visible to the next query on every socket (no restart, no poll timer).
#[derive(Clone, Default)]
pub struct ViewsHandle(Arc<RwLock<Views>>);

impl ViewsHandle {
    fn write<R>(&self, f: impl FnOnce(&mut Views) -> R) -> R {
        // A panic while holding the lock cannot leave `Views` half-updated in
        // a way that breaks its invariants (each method validates before
        // mutating), so a poisoned lock is still safe to use.
        f(&mut self.0.write().unwrap_or_else(PoisonError::into_inner))
    }

    /// Runs `f` on the current views (read lock; keep `f` short).
    pub fn read<R>(&self, f: impl FnOnce(&Views) -> R) -> R {
        f(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces every view with a new snapshot.
    pub fn replace_all(&self, views: Views) {
        self.write(|v| *v = views);
    }

    /// See [`Views::upsert`].
    pub fn upsert(&self, record: views::Record) -> Result<(), ViewError> {
        self.write(|v| v.upsert(record))
    }

    /// See [`Views::remove`].
    pub fn remove(&self, vpc: &str, name: &str) -> Result<bool, ViewError> {
        self.write(|v| v.remove(vpc, name))
    }

    /// See [`Views::remove_ip`].
    pub fn remove_ip(&self, vpc: &str, name: &str, ip: Ipv4Addr) -> Result<bool, ViewError> {
        self.write(|v| v.remove_ip(vpc, name, ip))
    }

    /// See [`Views::replace_vpc`].
    pub fn replace_vpc(
        &self,
        vpc: &str,
        records: impl IntoIterator<Item = (String, Ipv4Addr)>,
    ) -> Result<(), ViewError> {
        // Views::replace_vpc is all-or-nothing: an invalid name keeps the old view.
        self.write(|v| v.replace_vpc(vpc, records))
    }

    fn lookup(&self, vpc: &str, fqdn: &str) -> Option<Vec<Ipv4Addr>> {
        // Copy the few addresses out so no lock is held across an await.
        self.read(|v| v.lookup(vpc, fqdn).map(<[Ipv4Addr]>::to_vec))
    }
}

/// Runtime-updatable "endpoint SNAT" map: source address of a query that came
/// in through a DNS endpoint (SNATed to `198.19.128.x`) → the consumer VPC
/// whose view answers it.
#[derive(Clone, Default)]
pub struct SnatMap(Arc<RwLock<HashMap<Ipv4Addr, Arc<str>>>>);

impl SnatMap {
    /// Maps `addr` to `vpc`, replacing a previous mapping. Returns the previous VPC.
    pub fn insert(&self, addr: Ipv4Addr, vpc: &str) -> Option<String> {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(addr, Arc::from(vpc))
            .map(|v| v.to_string())
    }

    /// Removes the mapping of `addr`. Returns the VPC it pointed at.
    pub fn remove(&self, addr: Ipv4Addr) -> Option<String> {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&addr)
            .map(|v| v.to_string())
    }

    /// Replaces the whole map.
    pub fn replace_all(&self, entries: impl IntoIterator<Item = (Ipv4Addr, String)>) {
        let map = entries
            .into_iter()
            .map(|(a, v)| (a, Arc::from(v.as_str())))
            .collect();
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = map;
    }

    /// The consumer VPC of a source address, if it is an endpoint SNAT address.
    pub fn get(&self, addr: Ipv4Addr) -> Option<Arc<str>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&addr)
            .cloned()
    }
}

/// A private suffix, with the SOA synthesized for its negative answers.
struct Suffix {
    name: LowerName,
    soa: Record,
}

/// State shared by every VPC's handler.
struct Shared {
    views: ViewsHandle,
    snat: SnatMap,
    suffixes: Vec<Suffix>,
    ttl: u32,
    forwarder: Option<Catalog>,
    forward_timeout: Duration,
}

/// See [`Resolver::probe`].
#[derive(Clone)]
pub struct Probe {
    shared: Arc<Shared>,
    servers: Arc<Mutex<HashMap<String, Server<VpcHandler>>>>,
}

impl Probe {
    /// The addresses `name` resolves to in `view`, when the socket pair of `key` is being
    /// served (the VPC's resolver is listening) and the view holds the name; `None` otherwise.
    pub fn answers(&self, key: &str, view: &str, name: &str) -> Option<Vec<Ipv4Addr>> {
        let listening = self
            .servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(key);
        if !listening {
            return None;
        }
        let fqdn = crate::views::canonical_name(name).ok()?;
        self.shared
            .views
            .read(|v| v.lookup(view, &fqdn).map(<[Ipv4Addr]>::to_vec))
    }
}

/// The embedded private-DNS resolver. Create it inside a tokio runtime.
pub struct Resolver {
    shared: Arc<Shared>,
    tcp_idle_timeout: Duration,
    servers: Arc<Mutex<HashMap<String, Server<VpcHandler>>>>,
}

impl Resolver {
    /// Builds the resolver. Serves nothing until [`Resolver::serve_vpc`].
    pub fn new(config: ResolverConfig, views: Views) -> Result<Self, DnsError> {
        let suffixes = config
            .private_suffixes
            .iter()
            .map(|s| build_suffix(s, config.ttl))
            .collect::<Result<Vec<_>, _>>()?;
        let forwarder = match config.upstream {
            Some(upstream) => Some(build_forwarder(upstream, config.forward_timeout)?),
            None => None,
        };
        info!(
            upstream = ?config.upstream,
            suffixes = ?config.private_suffixes,
            ttl = config.ttl,
            "private DNS resolver configured"
        );
        Ok(Self {
            shared: Arc::new(Shared {
                views: ViewsHandle(Arc::new(RwLock::new(views))),
                snat: SnatMap::default(),
                suffixes,
                ttl: config.ttl,
                forwarder,
                forward_timeout: config.forward_timeout,
            }),
            tcp_idle_timeout: config.tcp_idle_timeout,
            servers: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The shared views handle (clone it to update records from elsewhere).
    pub fn views(&self) -> &ViewsHandle {
        &self.shared.views
    }

    /// A handle that answers "would a query for this name, arriving on these sockets, be
    /// answered, and with what" from the same state the servers use (for a console saying that
    /// a name resolves; nothing is sent on the network).
    pub fn probe(&self) -> Probe {
        Probe {
            shared: self.shared.clone(),
            servers: self.servers.clone(),
        }
    }

    /// The shared endpoint-SNAT map.
    pub fn snat(&self) -> &SnatMap {
        &self.shared.snat
    }

    /// Starts answering `vpc`'s queries on `udp` and `tcp` (already bound,
    /// typically inside the VPC router's network namespace). Replaces, and
    /// stops, a previous pair of sockets of the same VPC.
    pub fn serve_vpc(&self, vpc: &str, udp: tokio::net::UdpSocket, tcp: tokio::net::TcpListener) {
        self.serve(vpc, vpc, udp, tcp);
    }

    /// Starts answering on `udp` and `tcp` from `view`'s names, under `key` (what
    /// [`Resolver::stop`] takes): one VPC may be answered on several socket pairs (its
    /// router, and the DNS cloud service's host answers for whoever its SNAT map says).
    /// Replaces, and stops, a previous pair of the same key.
    pub fn serve(
        &self,
        key: &str,
        view: &str,
        udp: tokio::net::UdpSocket,
        tcp: tokio::net::TcpListener,
    ) {
        let handler = VpcHandler {
            vpc: Arc::from(view),
            shared: self.shared.clone(),
        };
        let mut server = Server::new(handler);
        info!(key, view, udp = ?udp.local_addr().ok(), tcp = ?tcp.local_addr().ok(), "serving");
        server.register_socket(udp);
        // 4 KiB of queued responses per TCP connection: answers here are small.
        server.register_listener(tcp, self.tcp_idle_timeout, 4096);
        let old = self
            .servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), server);
        if let Some(old) = old {
            // Dropping the server aborts its tasks (its JoinSet), closing the old sockets.
            old.shutdown_token().cancel();
            debug!(key, "replaced the previous sockets of this key");
        }
    }

    /// Same as [`Resolver::serve_vpc`] for std sockets (e.g. created on a
    /// thread that entered the VPC's network namespace).
    pub fn serve_vpc_std(
        &self,
        vpc: &str,
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
    ) -> Result<(), DnsError> {
        self.serve_std(vpc, vpc, udp, tcp)
    }

    /// [`Resolver::serve`] for std sockets.
    pub fn serve_std(
        &self,
        key: &str,
        view: &str,
        udp: std::net::UdpSocket,
        tcp: std::net::TcpListener,
    ) -> Result<(), DnsError> {
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        let udp = tokio::net::UdpSocket::from_std(udp)?;
        let tcp = tokio::net::TcpListener::from_std(tcp)?;
        self.serve(key, view, udp, tcp);
        Ok(())
    }

    /// Stops the socket pair served under `key` ([`Resolver::serve`]).
    pub async fn stop(&self, key: &str) -> bool {
        self.stop_vpc(key).await
    }

    /// Stops answering on `vpc`'s sockets and closes them. Returns whether the
    /// VPC was served.
    pub async fn stop_vpc(&self, vpc: &str) -> bool {
        let server = self
            .servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(vpc);
        match server {
            Some(server) => {
                stop_server(vpc, server).await;
                true
            }
            None => false,
        }
    }

    /// VPC ids currently served.
    pub fn served_vpcs(&self) -> Vec<String> {
        self.servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// Stops every VPC.
    pub async fn shutdown(&self) {
        let servers: Vec<_> = self
            .servers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect();
        for (vpc, server) in servers {
            stop_server(&vpc, server).await;
        }
    }
}

async fn stop_server(vpc: &str, mut server: Server<VpcHandler>) {
    // Graceful first, bounded: an idle TCP client would otherwise keep the
    // connection task alive until its idle timeout. Dropping the server then
    // aborts whatever is left.
    server.shutdown_token().cancel();
    if tokio::time::timeout(Duration::from_millis(500), server.block_until_done())
        .await
        .is_err()
    {
        debug!(
            vpc,
            "VPC server tasks still running after 500 ms; aborting them"
        );
    }
    info!(vpc, "stopped serving VPC");
}

fn build_suffix(suffix: &str, ttl: u32) -> Result<Suffix, DnsError> {
    let canonical = views::canonical_name(suffix).map_err(|source| DnsError::InvalidSuffix {
        suffix: suffix.to_owned(),
        source,
    })?;
    let invalid = |e: hickory_server::proto::ProtoError| DnsError::InvalidSuffix {
        suffix: suffix.to_owned(),
        source: ViewError::BadLabelChar {
            name: suffix.to_owned(),
            label: e.to_string(),
        },
    };
    let name = Name::from_ascii(&canonical).map_err(invalid)?;
    let mname = Name::from_ascii(format!("ns.{canonical}")).map_err(invalid)?;
    let rname = Name::from_ascii(format!("hostmaster.{canonical}")).map_err(invalid)?;
    // The SOA minimum is the negative-caching TTL (RFC 2308): keep it as short
    // as positive answers so a name added right after a miss shows up quickly.
    let soa = SOA::new(mname, rname, 1, 3600, 600, 86400, ttl);
    let soa = Record::from_rdata(name.clone(), ttl, RData::SOA(soa));
    Ok(Suffix {
        name: LowerName::from(name),
        soa,
    })
}

fn build_forwarder(upstream: SocketAddr, timeout: Duration) -> Result<Catalog, DnsError> {
    let mut udp = ConnectionConfig::udp();
    udp.port = upstream.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = upstream.port();
    let mut ns = NameServerConfig::udp_and_tcp(upstream.ip());
    ns.connections = vec![udp, tcp];
    // builder_tokio with an explicit name server: never /etc/resolv.conf.
    let mut builder = ForwardZoneHandler::builder_tokio(ForwardConfig {
        name_servers: vec![ns],
        options: None,
    });
    let opts = builder.options_mut();
    // One attempt bounded a little above our own deadline: the outer
    // `tokio::time::timeout` in the handler is what decides SERVFAIL, so the
    // client-visible bound is exactly `forward_timeout`.
    opts.timeout = timeout + Duration::from_millis(100);
    opts.attempts = 1;
    let forwarder = builder.build().map_err(DnsError::Forwarder)?;
    let mut catalog = Catalog::new();
    let handler: Arc<dyn ZoneHandler> = Arc::new(forwarder);
    catalog.upsert(LowerName::from(Name::root()), vec![handler]);
    Ok(catalog)
}

/// The request handler of one VPC's `Server`: it knows its VPC because it was
/// created for that VPC's sockets.
struct VpcHandler {
    vpc: Arc<str>,
    shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl RequestHandler for VpcHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        self.shared
            .handle::<R, T>(&self.vpc, request, response_handle)
            .await
    }
}

/// What a private lookup decided.
enum Private<'s> {
    /// The name exists: A answers (empty for other types: NODATA).
    Found(Vec<Ipv4Addr>),
    /// Under a private suffix but absent, or the suffix apex itself.
    Negative {
        rcode: ResponseCode,
        suffix: &'s Suffix,
    },
    /// Not ours: forward or refuse.
    NotOurs,
}

impl Shared {
    async fn handle<R: ResponseHandler, T: Time>(
        &self,
        socket_vpc: &str,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut response_edns = None;
        if let Some(req_edns) = request.edns.as_ref() {
            let mut edns = Edns::new();
            edns.set_max_payload(req_edns.max_payload().max(512));
            response_edns = Some(edns);
        }
        let builder = MessageResponseBuilder::new(&request.queries, response_edns.as_ref());

        if request.metadata.message_type != MessageType::Query {
            // hickory's server drops responses before us; be defensive anyway.
            return send(
                &mut response_handle,
                builder.error_msg(&request.metadata, ResponseCode::FormErr),
                &request.metadata,
            )
            .await;
        }
        if request.metadata.op_code != OpCode::Query {
            return send(
                &mut response_handle,
                builder.error_msg(&request.metadata, ResponseCode::NotImp),
                &request.metadata,
            )
            .await;
        }
        let Ok(info) = request.request_info() else {
            // Not exactly one question.
            return send(
                &mut response_handle,
                builder.error_msg(&request.metadata, ResponseCode::FormErr),
                &request.metadata,
            )
            .await;
        };

        // The SNAT rule wins over the socket: queries relayed by a DNS endpoint
        // arrive SNATed and must be answered in the consumer VPC's view.
        let snat_vpc = match info.src.ip() {
            IpAddr::V4(v4) => self.snat.get(v4),
            IpAddr::V6(_) => None,
        };
        let vpc: &str = snat_vpc.as_deref().unwrap_or(socket_vpc);
        let qname = info.query.name();
        let qtype = info.query.query_type();
        let qclass = info.query.query_class();

        let decision = if qclass == DNSClass::IN {
            self.private_lookup(vpc, qname)
        } else {
            Private::NotOurs
        };
        debug!(vpc, socket_vpc, src = %info.src, %qname, %qtype, "query");

        match decision {
            Private::Found(ips) => {
                let answers: Vec<Record> = if qtype == RecordType::A || qtype == RecordType::ANY {
                    // Echo the client's spelling (0x20 case randomisation checks it).
                    let name = info.query.original().name().clone();
                    ips.iter()
                        .map(|ip| Record::from_rdata(name.clone(), self.ttl, RData::A(A(*ip))))
                        .collect()
                } else {
                    // NODATA: the name exists, just not with this type.
                    Vec::new()
                };
                let soa = if answers.is_empty() {
                    self.suffix_of(qname).map(|s| &s.soa)
                } else {
                    None
                };
                let metadata = self.authoritative(&request.metadata, ResponseCode::NoError);
                send(
                    &mut response_handle,
                    builder.build(metadata, answers.iter(), iter::empty(), soa, iter::empty()),
                    &request.metadata,
                )
                .await
            }
            Private::Negative { rcode, suffix } => {
                let soa = &suffix.soa;
                let metadata = self.authoritative(&request.metadata, rcode);
                let (answers, authority) =
                    if rcode == ResponseCode::NoError && qtype == RecordType::SOA {
                        (Some(soa), None)
                    } else {
                        (None, Some(soa))
                    };
                send(
                    &mut response_handle,
                    builder.build(metadata, answers, iter::empty(), authority, iter::empty()),
                    &request.metadata,
                )
                .await
            }
            Private::NotOurs => match &self.forwarder {
                None => {
                    // No upstream: say so at once instead of letting the client time out.
                    send(
                        &mut response_handle,
                        builder.error_msg(&request.metadata, ResponseCode::Refused),
                        &request.metadata,
                    )
                    .await
                }
                Some(catalog) => {
                    let forwarded = tokio::time::timeout(
                        self.forward_timeout,
                        catalog.handle_request::<R, T>(request, response_handle.clone()),
                    )
                    .await;
                    match forwarded {
                        Ok(info) => info,
                        Err(_) => {
                            warn!(%qname, %qtype, timeout = ?self.forward_timeout, "upstream did not answer in time");
                            send(
                                &mut response_handle,
                                builder.error_msg(&request.metadata, ResponseCode::ServFail),
                                &request.metadata,
                            )
                            .await
                        }
                    }
                }
            },
        }
    }

    fn suffix_of(&self, name: &LowerName) -> Option<&Suffix> {
        // Longest suffix first wins, so nested private suffixes behave.
        self.suffixes
            .iter()
            .filter(|s| s.name.zone_of(name))
            .max_by_key(|s| s.name.num_labels())
    }

    fn private_lookup(&self, vpc: &str, qname: &LowerName) -> Private<'_> {
        // LowerName displays lower-case and fully qualified, the same spelling
        // as `views::canonical_name`.
        let key = qname.to_string();
        if let Some(ips) = self.views.lookup(vpc, &key) {
            return Private::Found(ips);
        }
        match self.suffix_of(qname) {
            Some(suffix) => {
                let rcode = if suffix.name == *qname {
                    // The apex exists (it has the SOA): NODATA, not NXDOMAIN.
                    ResponseCode::NoError
                } else {
                    ResponseCode::NXDomain
                };
                Private::Negative { rcode, suffix }
            }
            None => Private::NotOurs,
        }
    }

    fn authoritative(&self, request: &Metadata, rcode: ResponseCode) -> Metadata {
        let mut metadata = Metadata::response_from_request(request);
        metadata.authoritative = true;
        metadata.recursion_available = self.forwarder.is_some();
        metadata.response_code = rcode;
        metadata
    }
}

async fn send<'a, R: ResponseHandler>(
    response_handle: &mut R,
    response: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
        impl Iterator<Item = &'a Record> + Send + 'a,
    >,
    request: &Metadata,
) -> ResponseInfo {
    match response_handle.send_response(response).await {
        Ok(info) => info,
        Err(error) => {
            warn!(%error, "failed to send DNS response");
            let mut metadata = Metadata::response_from_request(request);
            metadata.response_code = ResponseCode::ServFail;
            ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            })
        }
    }
}
