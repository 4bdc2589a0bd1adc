//! Crash test (issue 8): `kill -9` of `vpcep serve` at random moments while several writers
//! create and delete resources that take claims and quota; after every restart the server must
//! still hold every write it acknowledged, and its store must hold no claim without its object.
//!
//! Replay a failure with `VPCEP_CRASH_SEED=<seed printed by the failing run>` (the kill moments
//! and each writer's choices follow the seed; thread timing still varies).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Row;
use tokio::sync::watch;
use vpcep_client::lab::{ListenerSpec, LoadBalancerSpec, MemberSpec};
use vpcep_client::params::Page;
use vpcep_client::{Client, ClientError};
use vpcep_huawei::vpc::{CreatePortBody, CreateSubnetBody, CreateVpcBody, FixedIp};
use vpcep_huawei::vpcep::{CreateEndpointBody, CreateEndpointServiceBody, PortListIn};

use crate::support::{DataSpec, Rng, ServerProc, admin, free_port, seed_from_env};
use vpcep_store::scratch::ScratchDatabase;

/// Writers (one per project); the last one is a second project (another region) of account 3.
const ACCOUNTS: usize = 4;
/// Per-account limits (an account's projects share them), low enough that quota refusals happen
/// and the check below means something.
const SERVICE_QUOTA: i64 = 6;
const ENDPOINT_QUOTA: i64 = 10;
/// Each writer stops after this many steps (about one request each) even if the kill schedule
/// is not over: bounds the run on a fast machine.
const MAX_STEPS_PER_WRITER: u64 = 1500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataSpec {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    run("sqlite", data, &dir.path().join("serve.log")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_postgres() {
    let db = ScratchDatabase::create("vpcep_crash")
        .await
        .expect("PostgreSQL reachable");
    let Some(db) = db else {
        println!("VPCEP_TEST_PG_URL is not set: skipping the PostgreSQL run");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataSpec {
        data_dir: dir.path().join("data"),
        database_url: Some(db.url.clone()),
    };
    run("postgres", data, &dir.path().join("serve.log")).await;
    drop(db);
}

// ---- what was acknowledged ----------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Obj {
    Vpc,
    Subnet,
    Port,
    LoadBalancer,
    Service,
    Endpoint,
    Permission,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Created with a 2xx and not deleted since: must be there.
    Live,
    /// Deleted with a 2xx: must be gone.
    Deleted,
    /// A delete whose answer was lost to a kill: either is right.
    Uncertain,
}

#[derive(Debug, Clone)]
struct Entry {
    kind: Obj,
    writer: usize,
    /// The service of a whitelist record, the VPC of a subnet.
    parent: String,
    fate: Fate,
}

#[derive(Default)]
struct Ledger {
    entries: HashMap<String, Entry>,
    acked_creates: u64,
    acked_deletes: u64,
    refused: u64,
    /// Refusals by operation and error code, to show what the mix exercised.
    refusals: BTreeMap<String, u64>,
    lost: u64,
    /// 5xx answers (and undecodable 2xx bodies): a server bug whatever the cause.
    server_errors: Vec<String>,
}

impl Ledger {
    fn created(&mut self, kind: Obj, id: &str, writer: usize, parent: &str) {
        self.acked_creates += 1;
        // An idempotent create (a whitelist record added again) acknowledges the same id: it is
        // there now, whatever a lost delete before did.
        self.entries
            .entry(id.to_string())
            .and_modify(|e| e.fate = Fate::Live)
            .or_insert(Entry {
                kind,
                writer,
                parent: parent.to_string(),
                fate: Fate::Live,
            });
    }

    fn set_fate(&mut self, id: &str, fate: Fate) {
        if fate == Fate::Deleted {
            self.acked_deletes += 1;
        }
        if let Some(e) = self.entries.get_mut(id) {
            e.fate = fate;
        }
    }
}

enum Outcome<T> {
    Ok(T),
    /// A 4xx: the server said no, nothing changed.
    Refused,
    /// No answer (the server died under it): it may or may not have happened.
    Lost,
}

// ---- shared state of one run --------------------------------------------------------------------

struct Tenant {
    domain_id: String,
    region: String,
    client: Client,
}

struct World {
    tenants: Vec<Tenant>,
    ledger: Mutex<Ledger>,
    /// Services any writer may try to connect to: (id, region).
    services: Mutex<Vec<(String, String)>>,
    stop: AtomicBool,
    /// Bumped after each restart once the server is ready again.
    epoch: watch::Receiver<u64>,
    requests: AtomicU64,
}

impl World {
    /// Classify a result, recording refusals, losses and server errors.
    async fn outcome<T>(&self, what: &str, r: Result<T, ClientError>, epoch: u64) -> Outcome<T> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match r {
            Ok(v) => Outcome::Ok(v),
            Err(ClientError::Api { status, code, .. }) if status < 500 => {
                let mut l = self.ledger.lock().expect("ledger");
                l.refused += 1;
                *l.refusals.entry(format!("{what} {code}")).or_default() += 1;
                Outcome::Refused
            }
            Err(ClientError::Transport { .. }) => {
                self.ledger.lock().expect("ledger").lost += 1;
                // Wait for the restart this error most likely belongs to (the controller bumps
                // the epoch once /readyz answers); bounded, in case it was something else.
                let mut rx = self.epoch.clone();
                let _ = tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|e| *e > epoch))
                    .await;
                Outcome::Lost
            }
            Err(e) => {
                self.ledger
                    .lock()
                    .expect("ledger")
                    .server_errors
                    .push(format!("{what}: {e}"));
                Outcome::Refused
            }
        }
    }
}

// ---- one writer ---------------------------------------------------------------------------------

struct SubnetInfo {
    id: String,
    vpc: String,
    /// First three octets of its /24.
    prefix: String,
}

#[derive(Default)]
struct Mine {
    vpcs: Vec<String>,
    subnets: Vec<SubnetInfo>,
    /// Plain ports (VM backends): (id, vpc).
    ports: Vec<(String, String)>,
    /// (load balancer, VIP port, vpc).
    lbs: Vec<(String, String, String)>,
    services: Vec<String>,
    endpoints: Vec<String>,
    /// (service, record id).
    perms: Vec<(String, String)>,
    next_subnet: u32,
}

async fn writer(world: Arc<World>, me: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut mine = Mine::default();
    let t = &world.tenants[me];
    let c = &t.client;
    let mut n = 0u64;
    while !world.stop.load(Ordering::Relaxed) && n < MAX_STEPS_PER_WRITER {
        n += 1;
        let epoch = *world.epoch.borrow();
        let roll = rng.range(0, 99);
        if mine.vpcs.is_empty() || (roll < 3 && mine.vpcs.len() < 3) {
            let r = c
                .create_vpc(CreateVpcBody {
                    name: Some(format!("v{n}")),
                    cidr: Some(format!("10.{me}.0.0/16")),
                    ..Default::default()
                })
                .await;
            if let Outcome::Ok(v) = world.outcome("create vpc", r, epoch).await {
                world
                    .ledger
                    .lock()
                    .expect("ledger")
                    .created(Obj::Vpc, &v.id, me, "");
                mine.vpcs.push(v.id);
            }
        } else if mine.subnets.is_empty() || (roll < 10 && mine.subnets.len() < 6) {
            let Some(vpc) = rng.pick(&mine.vpcs).cloned() else {
                continue;
            };
            mine.next_subnet = mine.next_subnet % 250 + 1;
            let prefix = format!("10.{me}.{}", mine.next_subnet);
            let r = c
                .create_subnet(CreateSubnetBody {
                    name: Some(format!("s{n}")),
                    cidr: Some(format!("{prefix}.0/24")),
                    gateway_ip: Some(format!("{prefix}.1")),
                    vpc_id: Some(vpc.clone()),
                    ..Default::default()
                })
                .await;
            if let Outcome::Ok(s) = world.outcome("create subnet", r, epoch).await {
                world
                    .ledger
                    .lock()
                    .expect("ledger")
                    .created(Obj::Subnet, &s.id, me, &vpc);
                mine.subnets.push(SubnetInfo {
                    id: s.id,
                    vpc,
                    prefix,
                });
            }
        } else if roll < 20 {
            // A port with a fixed IP (sometimes one already taken: the claim must refuse it) or
            // an allocated one.
            let Some(s) = rng.pick(&mine.subnets) else {
                continue;
            };
            if mine.ports.len() >= 8 {
                delete_port(&world, &mut mine, &mut rng, me, epoch).await;
                continue;
            }
            let fixed = rng.chance(70).then(|| FixedIp {
                subnet_id: None,
                ip_address: Some(format!("{}.{}", s.prefix, rng.range(2, 40))),
            });
            let (sid, vpc) = (s.id.clone(), s.vpc.clone());
            let r = c
                .create_port(CreatePortBody {
                    name: Some(format!("p{n}")),
                    network_id: Some(sid),
                    fixed_ips: fixed.map(|f| vec![f]),
                    ..Default::default()
                })
                .await;
            if let Outcome::Ok(p) = world.outcome("create port", r, epoch).await {
                world
                    .ledger
                    .lock()
                    .expect("ledger")
                    .created(Obj::Port, &p.id, me, "");
                mine.ports.push((p.id, vpc));
            }
        } else if roll < 27 {
            if mine.lbs.len() >= 3 {
                delete_lb(&world, &mut mine, &mut rng, me, epoch).await;
                continue;
            }
            let Some(s) = rng.pick(&mine.subnets) else {
                continue;
            };
            let vip = rng
                .chance(50)
                .then(|| format!("{}.{}", s.prefix, rng.range(2, 40)));
            let (sid, vpc, prefix) = (s.id.clone(), s.vpc.clone(), s.prefix.clone());
            let r = c
                .create_loadbalancer(&LoadBalancerSpec {
                    name: format!("lb{n}"),
                    vpc_id: vpc.clone(),
                    subnet_id: sid,
                    vip_address: vip,
                    listeners: vec![ListenerSpec {
                        protocol: "TCP".into(),
                        port: 80,
                        members: vec![MemberSpec {
                            address: format!("{prefix}.200"),
                            port: 8080,
                        }],
                    }],
                })
                .await;
            if let Outcome::Ok(lb) = world.outcome("create lb", r, epoch).await {
                world
                    .ledger
                    .lock()
                    .expect("ledger")
                    .created(Obj::LoadBalancer, &lb.id, me, "");
                mine.lbs.push((lb.id, lb.vip_port_id, vpc));
            }
        } else if roll < 40 {
            // At the quota, make room most of the time (refusals still happen: the writer does
            // not know of services whose create answer was lost).
            if mine.services.len() as i64 >= SERVICE_QUOTA && rng.chance(80) {
                delete_service(&world, &mut mine, &mut rng, me, epoch).await;
                continue;
            }
            // A service on a load balancer (LB) or a plain port (VM); the server port comes
            // from a small set so backend claims collide now and then (EndPoint.3044).
            let lb = rng.chance(50);
            let backend = if lb {
                rng.pick(&mine.lbs).map(|(_, p, v)| (p.clone(), v.clone()))
            } else {
                rng.pick(&mine.ports).cloned()
            };
            let Some((port_id, vpc)) = backend else {
                continue;
            };
            let server_port = *rng.pick(&[80i64, 443, 8080]).unwrap_or(&80);
            let r = c
                .create_service(&CreateEndpointServiceBody {
                    port_id: Some(port_id),
                    vpc_id: Some(vpc),
                    server_type: Some(if lb { "LB" } else { "VM" }.into()),
                    service_type: Some("interface".into()),
                    approval_enabled: Some(rng.chance(30)),
                    ports: Some(vec![PortListIn {
                        client_port: Some(server_port),
                        server_port: Some(server_port),
                        protocol: Some("TCP".into()),
                    }]),
                    ..Default::default()
                })
                .await;
            if let Outcome::Ok(s) = world.outcome("create service", r, epoch).await {
                world
                    .ledger
                    .lock()
                    .expect("ledger")
                    .created(Obj::Service, &s.id, me, "");
                world
                    .services
                    .lock()
                    .expect("services")
                    .push((s.id.clone(), t.region.clone()));
                mine.services.push(s.id);
            }
        } else if roll < 48 {
            // Whitelist another account on one of my services.
            let Some(sid) = rng.pick(&mine.services).cloned() else {
                continue;
            };
            let other = (me + rng.range(1, ACCOUNTS as u64) as usize) % world.tenants.len();
            let perm = format!("iam:domain::{}", world.tenants[other].domain_id);
            let r = c
                .add_permissions(&sid, "domainId", &[(perm, String::new())])
                .await;
            if let Outcome::Ok(list) = world.outcome("add permission", r, epoch).await {
                let mut l = world.ledger.lock().expect("ledger");
                for p in list.permissions {
                    if !mine.perms.iter().any(|(_, id)| *id == p.id) {
                        l.created(Obj::Permission, &p.id, me, &sid);
                        mine.perms.push((sid.clone(), p.id));
                    }
                }
            }
        } else if roll < 52 {
            if mine.perms.is_empty() {
                continue;
            }
            let i = rng.range(0, mine.perms.len() as u64 - 1) as usize;
            let (sid, pid) = mine.perms[i].clone();
            let r = c.remove_permissions(&sid, std::slice::from_ref(&pid)).await;
            match world.outcome("remove permission", r, epoch).await {
                Outcome::Ok(_) => {
                    world
                        .ledger
                        .lock()
                        .expect("ledger")
                        .set_fate(&pid, Fate::Deleted);
                    mine.perms.remove(i);
                }
                Outcome::Lost => {
                    world
                        .ledger
                        .lock()
                        .expect("ledger")
                        .set_fate(&pid, Fate::Uncertain);
                    mine.perms.remove(i);
                }
                Outcome::Refused => {}
            }
        } else if roll < 72 {
            if mine.endpoints.len() as i64 >= ENDPOINT_QUOTA && rng.chance(80) {
                delete_endpoint(&world, &mut mine, &mut rng, me, epoch).await;
                continue;
            }
            // An endpoint on a service of my region: mine half of the time, else any (another
            // account's may have whitelisted me), with a requested IP half of the time.
            let candidates: Vec<String> = if rng.chance(50) && !mine.services.is_empty() {
                mine.services.clone()
            } else {
                world
                    .services
                    .lock()
                    .expect("services")
                    .iter()
                    .filter(|(_, r)| *r == t.region)
                    .map(|(id, _)| id.clone())
                    .collect()
            };
            let (Some(sid), Some(s)) = (rng.pick(&candidates), rng.pick(&mine.subnets)) else {
                continue;
            };
            let port_ip = rng
                .chance(50)
                .then(|| format!("{}.{}", s.prefix, rng.range(2, 40)));
            let with_ip = port_ip.is_some();
            let r = c
                .create_endpoint(&CreateEndpointBody {
                    endpoint_service_id: Some(sid.clone()),
                    vpc_id: Some(s.vpc.clone()),
                    subnet_id: Some(s.id.clone()),
                    port_ip,
                    ..Default::default()
                })
                .await;
            let what = if with_ip {
                "create endpoint with port_ip"
            } else {
                "create endpoint"
            };
            if let Outcome::Ok(e) = world.outcome(what, r, epoch).await {
                world
                    .ledger
                    .lock()
                    .expect("ledger")
                    .created(Obj::Endpoint, &e.id, me, sid);
                mine.endpoints.push(e.id);
            }
        } else if roll < 84 {
            delete_endpoint(&world, &mut mine, &mut rng, me, epoch).await;
        } else if roll < 90 {
            delete_service(&world, &mut mine, &mut rng, me, epoch).await;
        } else if roll < 94 {
            delete_port(&world, &mut mine, &mut rng, me, epoch).await;
        } else if roll < 97 {
            delete_lb(&world, &mut mine, &mut rng, me, epoch).await;
        } else if roll < 99 {
            if mine.subnets.is_empty() {
                continue;
            }
            let i = rng.range(0, mine.subnets.len() as u64 - 1) as usize;
            let (id, vpc) = (mine.subnets[i].id.clone(), mine.subnets[i].vpc.clone());
            let r = c.delete_subnet(&vpc, &id).await;
            if let Some(f) = delete_fate(world.outcome("delete subnet", r, epoch).await) {
                world.ledger.lock().expect("ledger").set_fate(&id, f);
                mine.subnets.remove(i);
            }
        } else {
            if mine.vpcs.is_empty() {
                continue;
            }
            let i = rng.range(0, mine.vpcs.len() as u64 - 1) as usize;
            let id = mine.vpcs[i].clone();
            let r = c.delete_vpc(&id).await;
            if let Some(f) = delete_fate(world.outcome("delete vpc", r, epoch).await) {
                world.ledger.lock().expect("ledger").set_fate(&id, f);
                mine.vpcs.remove(i);
                mine.subnets.retain(|s| s.vpc != id);
            }
        }
    }
}

/// What an answer to a delete says about the object (`None`: refused, it stays).
fn delete_fate(o: Outcome<()>) -> Option<Fate> {
    match o {
        Outcome::Ok(()) => Some(Fate::Deleted),
        Outcome::Lost => Some(Fate::Uncertain),
        Outcome::Refused => None,
    }
}

async fn delete_endpoint(world: &World, mine: &mut Mine, rng: &mut Rng, me: usize, epoch: u64) {
    if mine.endpoints.is_empty() {
        return;
    }
    let i = rng.range(0, mine.endpoints.len() as u64 - 1) as usize;
    let id = mine.endpoints[i].clone();
    let r = world.tenants[me].client.delete_endpoint(&id).await;
    if let Some(f) = delete_fate(world.outcome("delete endpoint", r, epoch).await) {
        world.ledger.lock().expect("ledger").set_fate(&id, f);
        mine.endpoints.remove(i);
    }
}

async fn delete_service(world: &World, mine: &mut Mine, rng: &mut Rng, me: usize, epoch: u64) {
    if mine.services.is_empty() {
        return;
    }
    let i = rng.range(0, mine.services.len() as u64 - 1) as usize;
    let id = mine.services[i].clone();
    let r = world.tenants[me].client.delete_service(&id).await;
    if let Some(f) = delete_fate(world.outcome("delete service", r, epoch).await) {
        world.ledger.lock().expect("ledger").set_fate(&id, f);
        world
            .services
            .lock()
            .expect("services")
            .retain(|(s, _)| *s != id);
        mine.services.remove(i);
        // Its whitelist goes with it (checked through the service's fate).
        mine.perms.retain(|(s, _)| *s != id);
    }
}

async fn delete_port(world: &World, mine: &mut Mine, rng: &mut Rng, me: usize, epoch: u64) {
    if mine.ports.is_empty() {
        return;
    }
    let i = rng.range(0, mine.ports.len() as u64 - 1) as usize;
    let id = mine.ports[i].0.clone();
    let r = world.tenants[me].client.delete_port(&id).await;
    if let Some(f) = delete_fate(world.outcome("delete port", r, epoch).await) {
        world.ledger.lock().expect("ledger").set_fate(&id, f);
        mine.ports.remove(i);
    }
}

async fn delete_lb(world: &World, mine: &mut Mine, rng: &mut Rng, me: usize, epoch: u64) {
    if mine.lbs.is_empty() {
        return;
    }
    let i = rng.range(0, mine.lbs.len() as u64 - 1) as usize;
    let id = mine.lbs[i].0.clone();
    let r = world.tenants[me].client.delete_loadbalancer(&id).await;
    if let Some(f) = delete_fate(world.outcome("delete lb", r, epoch).await) {
        world.ledger.lock().expect("ledger").set_fate(&id, f);
        mine.lbs.remove(i);
    }
}

// ---- the agent stand-in -------------------------------------------------------------------------

/// Speaks `/agent/v1` like the data-plane agent would: `creating` → applied, `deleting` →
/// removed. Without it deletes of services and endpoints never finish (and never release their
/// claims), which is half of what the crash test is about.
struct FakeAgent {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl FakeAgent {
    /// One round; `Ok(pending)` is how many objects still waited for the agent before it.
    async fn round(&self) -> Result<usize, reqwest::Error> {
        let snap: Value = self
            .http
            .get(format!("{}/agent/v1/snapshot", self.url))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut results = vec![];
        for o in snap["objects"].as_array().into_iter().flatten() {
            let kind = o["kind"].as_str().unwrap_or_default();
            if kind != "endpoint_service" && kind != "endpoint" {
                continue;
            }
            let outcome = match o["spec"]["status"].as_str() {
                Some("creating") => "applied",
                Some("deleting") => "removed",
                _ => continue,
            };
            results.push(
                json!({"kind": kind, "id": o["id"], "generation": o["generation"],
                                "outcome": outcome}),
            );
        }
        if !results.is_empty() {
            self.http
                .post(format!("{}/agent/v1/reports", self.url))
                .bearer_auth(&self.token)
                .json(&json!({"agent": "crash-test", "results": results}))
                .send()
                .await?
                .error_for_status()?;
        }
        Ok(results.len())
    }
}

// ---- the run ------------------------------------------------------------------------------------

async fn run(backend: &str, data: DataSpec, log: &std::path::Path) {
    let t0 = Instant::now();
    let seed = seed_from_env("VPCEP_CRASH_SEED");
    println!("crash[{backend}]: seed {seed} (replay with VPCEP_CRASH_SEED={seed})");
    let mut rng = Rng::new(seed);

    // Accounts before the first start, as an operator would (admin works on the store directly).
    let mut accounts = vec![];
    for i in 0..ACCOUNTS {
        let name = format!("crash{i}");
        accounts.push(admin(&data, &["account", "create", &name]).await);
        for (kind, limit) in [
            ("endpoint_service", SERVICE_QUOTA),
            ("endpoint", ENDPOINT_QUOTA),
        ] {
            admin(
                &data,
                &[
                    "quota",
                    "set",
                    &name,
                    "--type",
                    kind,
                    "--limit",
                    &limit.to_string(),
                ],
            )
            .await;
        }
    }
    let last = ACCOUNTS - 1;
    let extra = admin(
        &data,
        &[
            "project",
            "create",
            &format!("crash{last}"),
            "--region",
            "cn-south-1",
        ],
    )
    .await;

    let addr: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("address");
    let mut server = ServerProc::start(data.clone(), addr, log).await;
    let url = server.url();
    let s = |v: &Value, k: &str| v[k].as_str().expect("admin output field").to_string();
    let mut tenants: Vec<Tenant> = accounts
        .iter()
        .map(|a| Tenant {
            domain_id: s(a, "domain_id"),
            region: s(a, "region"),
            client: Client::new(
                &url,
                &s(a, "access_key"),
                &s(a, "secret_key"),
                &s(a, "project_id"),
            )
            .expect("client"),
        })
        .collect();
    tenants.push(Tenant {
        domain_id: s(&accounts[last], "domain_id"),
        region: s(&extra, "region"),
        client: Client::new(
            &url,
            &s(&accounts[last], "access_key"),
            &s(&accounts[last], "secret_key"),
            &s(&extra, "project_id"),
        )
        .expect("client"),
    });
    let token = std::fs::read_to_string(data.data_dir.join("agent.token"))
        .expect("agent token")
        .trim()
        .to_string();
    let agent = Arc::new(FakeAgent {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http"),
        url: url.clone(),
        token,
    });

    let (epoch_tx, epoch_rx) = watch::channel(0u64);
    let world = Arc::new(World {
        tenants,
        ledger: Mutex::new(Ledger::default()),
        services: Mutex::new(vec![]),
        stop: AtomicBool::new(false),
        epoch: epoch_rx,
        requests: AtomicU64::new(0),
    });
    let writers: Vec<_> = (0..world.tenants.len())
        .map(|i| tokio::spawn(writer(world.clone(), i, rng.next_u64())))
        .collect();
    let agent_task = {
        let (agent, world) = (agent.clone(), world.clone());
        tokio::spawn(async move {
            while !world.stop.load(Ordering::Relaxed) {
                let _ = agent.round().await;
                // The real agent is woken by the change feed; a fixed pace is enough here.
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };

    // The crashes: a random number of kills at random moments, each followed by a restart on the
    // same data and a wait for /readyz.
    let kills = rng.range(5, 8);
    let limits: Vec<QuotaSeen> = world
        .tenants
        .iter()
        .map(|t| QuotaSeen {
            domain: t.domain_id.clone(),
            used: None,
            limits: (SERVICE_QUOTA, ENDPOINT_QUOTA),
        })
        .collect();
    let scratch = log.with_file_name("inspect");
    let mut restart_times = vec![];
    let mut claims_checked = 0;
    let mut objects_checked = 0;
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.range(1500, 5000))).await;
        server.kill9().await;
        // The store exactly as the crash left it (nothing runs on it now).
        let (c, o) = check_store(&data.inspect_url(&scratch), &limits).await;
        claims_checked += c;
        objects_checked += o;
        restart_times.push(server.restart().await);
        epoch_tx.send_modify(|e| *e += 1);
    }
    // Writes after the last restart, so the final state is not only what the kill left.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    world.stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer panicked");
    }
    agent_task.await.expect("agent task panicked");

    // Let the agent finish every pending create and delete (bounded).
    let mut settled = false;
    for _ in 0..200 {
        match agent.round().await {
            Ok(0) => {
                settled = true;
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("agent round failed after the run: {e}"),
        }
    }
    assert!(
        settled,
        "services/endpoints still pending after 200 agent rounds"
    );

    let ledger = std::mem::take(&mut *world.ledger.lock().expect("ledger"));
    assert!(
        ledger.server_errors.is_empty(),
        "server errors (5xx / undecodable answers):\n{}\n--- server log ---\n{}",
        ledger.server_errors.join("\n"),
        server.log_tail()
    );
    assert!(
        ledger.acked_creates > 50,
        "only {} acknowledged creates: the writers did not get going",
        ledger.acked_creates
    );

    // Every acknowledged create is there unless an acknowledged delete followed; every
    // acknowledged delete is gone.
    let (present, gone, uncertain) = check_acknowledged(&world, &ledger).await;

    // Quota as the API reports it, compared with the rows below.
    let mut quota_seen = vec![];
    for t in &world.tenants {
        let q = t.client.quotas(None).await.expect("quotas");
        let get = |k: &str| {
            q.quotas
                .resources
                .iter()
                .find(|r| r.kind == k)
                .map(|r| (r.used, r.quota))
                .unwrap_or_else(|| panic!("no {k} quota in {:?}", q.quotas.resources))
        };
        let (svc, ep) = (get("endpoint_service"), get("endpoint"));
        quota_seen.push(QuotaSeen {
            domain: t.domain_id.clone(),
            used: Some((svc.0, ep.0)),
            limits: (svc.1, ep.1),
        });
    }

    // The store itself, with the server stopped.
    server.kill9().await;
    let (c, o) = check_store(&data.inspect_url(&scratch), &quota_seen).await;
    claims_checked += c;
    objects_checked += o;

    let mut refusals: Vec<_> = ledger.refusals.iter().collect();
    refusals.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
    println!(
        "crash[{backend}]: refusals {}",
        refusals
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "crash[{backend}]: {kills} kills (restart to ready: {}), {} requests, {} acknowledged \
         creates + {} acknowledged deletes ({} refused, {} lost to kills); checked {} present + \
         {} gone ({} deletes lost, not checked); store checked {} times: {claims_checked} claims against \
         {objects_checked} objects; {:.1}s",
        restart_times
            .iter()
            .map(|d| format!("{}ms", d.as_millis()))
            .collect::<Vec<_>>()
            .join(" "),
        world.requests.load(Ordering::Relaxed),
        ledger.acked_creates,
        ledger.acked_deletes,
        ledger.refused,
        ledger.lost,
        present,
        gone,
        uncertain,
        kills + 1,
        t0.elapsed().as_secs_f64()
    );
}

/// GET every object the ledger knows; (present, gone, skipped).
async fn check_acknowledged(world: &World, ledger: &Ledger) -> (u64, u64, u64) {
    let (mut present, mut gone, mut skipped) = (0, 0, 0);
    let mut failures = vec![];
    // Whitelist records are read per service (there is no GET of one record).
    let mut perm_lists: HashMap<String, Option<HashSet<String>>> = HashMap::new();
    let mut entries: Vec<(&String, &Entry)> = ledger.entries.iter().collect();
    entries.sort_by_key(|(id, e)| (e.kind, e.writer, id.as_str()));
    for (id, e) in entries {
        let c = &world.tenants[e.writer].client;
        let mut expect = e.fate;
        if e.kind == Obj::Permission {
            // A record goes with its service.
            match ledger.entries.get(&e.parent).map(|p| p.fate) {
                Some(Fate::Deleted) => expect = Fate::Deleted,
                Some(Fate::Uncertain) => expect = Fate::Uncertain,
                _ => {}
            }
        }
        if expect == Fate::Uncertain {
            skipped += 1;
            continue;
        }
        let found: Result<bool, ClientError> = match e.kind {
            Obj::Vpc => exists(c.get_vpc(id).await),
            Obj::Subnet => exists(c.get_subnet(id).await),
            Obj::Port => exists(c.get_port(id).await),
            Obj::LoadBalancer => exists(c.get_loadbalancer(id).await),
            Obj::Service => exists(c.get_service(id).await),
            Obj::Endpoint => exists(c.get_endpoint(id).await),
            Obj::Permission => {
                if !perm_lists.contains_key(&e.parent) {
                    let list = match c.list_permissions(&e.parent, None, &Page::limit(500)).await {
                        Ok(l) => Some(l.permissions.into_iter().map(|p| p.id).collect()),
                        // The service is gone, and its whitelist with it.
                        Err(ClientError::Api { status: 404, .. }) => None,
                        Err(err) => panic!("listing the whitelist of {}: {err}", e.parent),
                    };
                    perm_lists.insert(e.parent.clone(), list);
                }
                Ok(perm_lists[&e.parent]
                    .as_ref()
                    .is_some_and(|set| set.contains(id)))
            }
        };
        let found = found.unwrap_or_else(|err| panic!("reading {:?} {id}: {err}", e.kind));
        match (expect, found) {
            (Fate::Live, true) => present += 1,
            (Fate::Deleted, false) => gone += 1,
            (Fate::Live, false) => failures.push(format!(
                "{:?} {id} (writer {}) was acknowledged but is gone",
                e.kind, e.writer
            )),
            (Fate::Deleted, true) => failures.push(format!(
                "{:?} {id} (writer {}) was deleted (acknowledged) but is still there",
                e.kind, e.writer
            )),
            (Fate::Uncertain, _) => unreachable!("skipped above"),
        }
    }
    assert!(
        failures.is_empty(),
        "{} acknowledged writes not honoured:\n{}",
        failures.len(),
        failures.join("\n")
    );
    (present, gone, skipped)
}

/// `Ok(true)` for a 2xx, `Ok(false)` for 404, the error otherwise.
fn exists<T>(r: Result<T, ClientError>) -> Result<bool, ClientError> {
    match r {
        Ok(_) => Ok(true),
        Err(ClientError::Api { status: 404, .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

struct StoredObject {
    kind: String,
    id: String,
    project_id: String,
    body: Value,
}

/// An account's quota limits, and what the API reported as used (services, endpoints; every
/// project of the account counts) when the server was up.
struct QuotaSeen {
    domain: String,
    used: Option<(i64, i64)>,
    limits: (i64, i64),
}

/// Open the store's tables directly and check the claims against the objects; returns how many
/// claims and objects were checked.
async fn check_store(url: &str, quota_seen: &[QuotaSeen]) -> (usize, usize) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .expect("opening the store for inspection");
    let objects: Vec<StoredObject> = sqlx::query("SELECT kind, id, project_id, body FROM objects")
        .fetch_all(&pool)
        .await
        .expect("reading objects")
        .iter()
        .map(|r| StoredObject {
            kind: r.try_get("kind").expect("kind"),
            id: r.try_get("id").expect("id"),
            project_id: r.try_get("project_id").expect("project_id"),
            body: serde_json::from_str(&r.try_get::<String, _>("body").expect("body"))
                .expect("stored body is JSON"),
        })
        .collect();
    let claims: Vec<(String, String, String)> =
        sqlx::query("SELECT namespace, claim_key, owner FROM claims")
            .fetch_all(&pool)
            .await
            .expect("reading claims")
            .iter()
            .map(|r| {
                (
                    r.try_get("namespace").expect("namespace"),
                    r.try_get("claim_key").expect("claim_key"),
                    r.try_get("owner").expect("owner"),
                )
            })
            .collect();
    pool.close().await;

    let by_key: HashMap<(&str, &str), &StoredObject> = objects
        .iter()
        .map(|o| ((o.kind.as_str(), o.id.as_str()), o))
        .collect();
    let field = |o: &StoredObject, k: &str| o.body[k].as_str().unwrap_or_default().to_string();
    let mut problems = vec![];

    // Claim → object: every claim is owned by an object that exists and matches its key.
    for (ns, key, owner) in &claims {
        let ok = match ns.as_str() {
            // Key `<subnet>/<ip>`, owner `port:<id>` or `endpoint:<id>`.
            "ip" => {
                let (kind, id) = owner.split_once(':').unwrap_or(("", ""));
                let kind = match kind {
                    "port" => "port",
                    "endpoint" => "endpoint",
                    _ => "",
                };
                let ip_field = if kind == "port" { "ip_address" } else { "ip" };
                by_key.get(&(kind, id)).is_some_and(|o| {
                    *key == format!("{}/{}", field(o, "subnet_id"), field(o, ip_field))
                })
            }
            // Key `<backend port>/<protocol>/<server port>`, owner `service:<id>`.
            "backend_port" => owner
                .strip_prefix("service:")
                .and_then(|id| by_key.get(&("endpoint_service", id)))
                .is_some_and(|o| backend_keys(o).contains(key)),
            // Key: the account name; owner: its domain id.
            "account_name" => by_key
                .get(&("account", owner.as_str()))
                .is_some_and(|o| field(o, "name") == *key),
            // Key `<domain>/<region>`; owner: the project.
            "project_region" => by_key.get(&("project", owner.as_str())).is_some_and(|o| {
                *key == format!("{}/{}", field(o, "domain_id"), field(o, "region"))
            }),
            other => {
                problems.push(format!(
                    "claim namespace {other:?} unknown to this test: teach check_store its owners"
                ));
                true
            }
        };
        if !ok {
            problems.push(format!(
                "orphan claim {ns} {key} owned by {owner}: no such object or it does not match"
            ));
        }
    }

    // Object → claim: each port / endpoint / service / account / project holds its claims, so
    // no address or backend port is held twice (the claims' primary key is unique).
    let held: HashMap<(&str, &str), &str> = claims
        .iter()
        .map(|(n, k, o)| ((n.as_str(), k.as_str()), o.as_str()))
        .collect();
    let mut addresses: HashMap<String, Vec<String>> = HashMap::new();
    for o in &objects {
        let need: Vec<(&str, String, String)> = match o.kind.as_str() {
            "port" => vec![(
                "ip",
                format!("{}/{}", field(o, "subnet_id"), field(o, "ip_address")),
                format!("port:{}", o.id),
            )],
            "endpoint" => vec![(
                "ip",
                format!("{}/{}", field(o, "subnet_id"), field(o, "ip")),
                format!("endpoint:{}", o.id),
            )],
            "endpoint_service" => backend_keys(o)
                .into_iter()
                .map(|k| ("backend_port", k, format!("service:{}", o.id)))
                .collect(),
            "account" => vec![("account_name", field(o, "name"), o.id.clone())],
            "project" => vec![(
                "project_region",
                format!("{}/{}", field(o, "domain_id"), field(o, "region")),
                o.id.clone(),
            )],
            "permission" => {
                if !by_key.contains_key(&("endpoint_service", field(o, "service_id").as_str())) {
                    problems.push(format!(
                        "whitelist record {} outlived its service {}",
                        o.id,
                        field(o, "service_id")
                    ));
                }
                vec![]
            }
            _ => vec![],
        };
        for (ns, key, owner) in need {
            if ns == "ip" {
                addresses
                    .entry(key.clone())
                    .or_default()
                    .push(owner.clone());
            }
            match held.get(&(ns, key.as_str())) {
                Some(h) if *h == owner => {}
                Some(h) => problems.push(format!(
                    "{owner} uses {ns} {key}, but the claim belongs to {h}"
                )),
                None => problems.push(format!("{owner} uses {ns} {key} without a claim")),
            }
        }
    }
    for (addr, owners) in &addresses {
        if owners.len() > 1 {
            problems.push(format!("address {addr} held by {}", owners.join(", ")));
        }
    }

    // Quota (per account, over all its projects): what the API reported is what the rows say,
    // and within the limit.
    let domain_of: HashMap<&str, String> = objects
        .iter()
        .filter(|o| o.kind == "project")
        .map(|o| (o.id.as_str(), field(o, "domain_id")))
        .collect();
    let mut count: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for o in &objects {
        if let Some(domain) = domain_of.get(o.project_id.as_str()) {
            *count.entry((o.kind.as_str(), domain.as_str())).or_default() += 1;
        }
    }
    for q in quota_seen {
        let rows = |kind: &str| count.get(&(kind, q.domain.as_str())).copied().unwrap_or(0);
        let (svc, ep) = (rows("endpoint_service"), rows("endpoint"));
        if let Some((svc_used, ep_used)) = q.used
            && (svc_used != svc || ep_used != ep)
        {
            problems.push(format!(
                "account {}: quota says {svc_used} services / {ep_used} endpoints, the store \
                 holds {svc} / {ep}",
                q.domain
            ));
        }
        if svc > q.limits.0 || ep > q.limits.1 {
            problems.push(format!(
                "account {}: {svc} services (limit {}), {ep} endpoints (limit {})",
                q.domain, q.limits.0, q.limits.1
            ));
        }
    }

    assert!(
        problems.is_empty(),
        "{} store problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    (claims.len(), objects.len())
}

/// The `backend_port` claim keys a stored service needs.
fn backend_keys(o: &StoredObject) -> Vec<String> {
    let port_id = o.body["port_id"].as_str().unwrap_or_default();
    o.body["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            format!(
                "{port_id}/{}/{}",
                m["protocol"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_uppercase(),
                m["server_port"]
            )
        })
        .collect()
}
