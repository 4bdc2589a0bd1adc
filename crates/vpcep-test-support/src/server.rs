//! A control plane per test: temp store (SQLite, or a scratch PostgreSQL database), the real
//! router on 127.0.0.1, accounts, a signed client per account, and an agent stand-in that speaks
//! the agent protocol over HTTP. In-process, so a test can also reach past the API (`control`)
//! to set what the API cannot (quotas, regions) and read what it does not show.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use vpcep_api::AppState;
use vpcep_client::Client;
use vpcep_control::{Control, NewAccount, Settings};
use vpcep_store::scratch::ScratchDatabase;
use vpcep_store::{SharedStore, SqlStore};

/// The control plane and API as `vpcep serve` wires them, on an ephemeral loopback port; stops
/// (and its store goes) when dropped.
pub struct Server {
    pub addr: SocketAddr,
    /// The service layer behind the router, for what a test sets up or checks without the API.
    pub control: Control,
    /// The agent (operator) token the router accepts on `/agent/v1`.
    pub token: String,
    /// Which backend this server's store is ("sqlite" or "postgres"), for assertion messages.
    pub backend: &'static str,
    dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
    /// A PostgreSQL database made for this server alone, dropped with it.
    _pg_database: Option<ScratchDatabase>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The stores a test can run on: SQLite always, PostgreSQL when `VPCEP_TEST_PG_URL` names a
/// server (each test then gets a database of its own, removed afterwards).
pub async fn every_backend() -> Vec<Server> {
    let mut out = vec![Server::start().await];
    match Server::start_postgres(Settings::default()).await {
        Some(pg) => out.push(pg),
        None => eprintln!("VPCEP_TEST_PG_URL not set: PostgreSQL half of this test skipped"),
    }
    out
}

/// An account on a [`Server`]: its keys and project, and the typed client signing as it.
pub struct Account {
    pub info: NewAccount,
    pub client: Client,
    /// The server's URL, for requests a test writes by hand (unsigned, malformed).
    pub base_url: String,
}

impl Server {
    /// A server on a fresh SQLite file with default settings.
    pub async fn start() -> Server {
        Self::start_with(Settings::default()).await
    }

    /// A server on a fresh SQLite file with `settings` (quotas, region).
    pub async fn start_with(settings: Settings) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqlStore::open_sqlite(&dir.path().join("t.db"))
            .await
            .expect("store");
        Self::serve(Arc::new(store), settings, dir, "sqlite", None).await
    }

    /// A server on a fresh PostgreSQL database, or `None` when `VPCEP_TEST_PG_URL` is unset.
    pub async fn start_postgres(settings: Settings) -> Option<Server> {
        let db = ScratchDatabase::create("vpcep_it")
            .await
            .expect("PostgreSQL reachable")?;
        let store = db.store().await.expect("store on PostgreSQL");
        let dir = tempfile::tempdir().expect("tempdir");
        Some(Self::serve(Arc::new(store), settings, dir, "postgres", Some(db)).await)
    }

    /// Serve the real router over `store` on 127.0.0.1 (a test wrapping the store, e.g. to count
    /// its queries, starts here; `dir` is kept for the server's lifetime).
    pub async fn serve(
        store: SharedStore,
        settings: Settings,
        dir: tempfile::TempDir,
        backend: &'static str,
        pg_database: Option<ScratchDatabase>,
    ) -> Server {
        let (secrets, _) = vpcep_auth::SecretBox::generate().expect("key");
        let control = Control::new(
            store,
            settings,
            secrets,
            vpcep_huawei::error::recorded_failure,
        );
        let token = "test-agent-token".to_string();
        let state = AppState {
            control: control.clone(),
            agent_token: Arc::new(token.clone()),
            started: Instant::now(),
        };
        let app = vpcep_api::router(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            // With the peer address, as `vpcep serve` does (the audit log records it).
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<vpcep_api::listener::PeerAddr>(),
            )
            .await;
        });
        Server {
            addr,
            control,
            token,
            backend,
            dir,
            task,
            _pg_database: pg_database,
        }
    }

    /// The server's temporary directory (its SQLite file lives there), for files a test keeps
    /// next to the store, e.g. the console's key; removed with the server.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A new account `name` in the default region.
    pub async fn account(&self, name: &str) -> Account {
        self.account_in(name, None).await
    }

    /// A new account `name` in `region` (`None`: the server's).
    pub async fn account_in(&self, name: &str, region: Option<&str>) -> Account {
        let info = self
            .control
            .create_account(name, region)
            .await
            .expect("account");
        let client = Client::new(
            &self.url(),
            &info.access_key,
            &info.secret_key,
            &info.project_id,
        )
        .expect("client");
        Account {
            info,
            client,
            base_url: self.url(),
        }
    }

    /// Raw agent-protocol call.
    pub async fn agent(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}/agent/v1{path_and_query}", self.url()))
            .header("Authorization", format!("Bearer {}", self.token));
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("agent request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Act as the data-plane agent once: report `applied` for every service/endpoint in
    /// `creating` and `removed` for every one in `deleting`. Returns how many results counted.
    pub async fn settle(&self) -> u64 {
        let (_, snap) = self.agent(reqwest::Method::GET, "/snapshot", None).await;
        let mut results = vec![];
        for o in snap["objects"].as_array().cloned().unwrap_or_default() {
            let kind = o["kind"].as_str().unwrap_or_default();
            if kind != "endpoint_service" && kind != "endpoint" {
                continue;
            }
            let outcome = match o["spec"]["status"].as_str() {
                Some("creating") => "applied",
                Some("deleting") => "removed",
                _ => continue,
            };
            results.push(json!({"kind": kind, "id": o["id"], "generation": o["generation"], "outcome": outcome}));
        }
        if results.is_empty() {
            return 0;
        }
        let (status, ack) = self
            .agent(
                reqwest::Method::POST,
                "/reports",
                Some(json!({"agent": "test", "results": results})),
            )
            .await;
        assert_eq!(status, 200, "{ack}");
        ack["accepted"].as_u64().unwrap_or(0)
    }
}

/// A VPC with one subnet, and a load balancer VIP (TCP 80) and a server NIC in it: the backends
/// the API tests create services on.
pub struct Net {
    pub vpc: String,
    pub subnet: String,
    pub lb_port: String,
    pub vm_port: String,
}

/// [`Net`] on `cidr`, subnet `subnet_cidr` with gateway `gw`.
pub async fn network(c: &Client, cidr: &str, subnet_cidr: &str, gw: &str) -> Net {
    let crate::lab::Net { vpc, subnet } = crate::lab::network(c, "v", cidr, subnet_cidr, gw).await;
    let lb: Value = c
        .post(
            &c.project_path("/lab/loadbalancers"),
            &json!({"loadbalancer": {"name": "lb", "vpc_id": vpc, "subnet_id": subnet,
                "listeners": [{"protocol": "TCP", "port": 80, "members": [{"address": "192.168.0.10", "port": 8080}]}]}}),
        )
        .await
        .expect("lb");
    let lb_port = lb["loadbalancer"]["vip_port_id"]
        .as_str()
        .expect("vip")
        .to_string();
    let srv: Value = c
        .post(
            &c.project_path("/lab/servers"),
            &json!({"server": {"name": "vm", "vpc_id": vpc, "nics": [{"subnet_id": subnet}]}}),
        )
        .await
        .expect("server");
    let vm_port = srv["server"]["nics"][0]["port_id"]
        .as_str()
        .expect("nic")
        .to_string();
    Net {
        vpc,
        subnet,
        lb_port,
        vm_port,
    }
}

/// An LB-backed endpoint service on `net`'s load balancer; the API's answer, error included.
pub async fn create_service(
    c: &Client,
    net: &Net,
    name: &str,
    approval: bool,
    ports: Value,
) -> Result<Value, vpcep_client::ClientError> {
    c.post(
        &c.project_path("/vpc-endpoint-services"),
        &json!({"port_id": net.lb_port, "vpc_id": net.vpc, "server_type": "LB", "service_name": name,
                "approval_enabled": approval, "ports": ports}),
    )
    .await
}

/// An endpoint of `service_id` in `net`'s subnet; the API's answer, error included.
pub async fn create_endpoint(
    c: &Client,
    service_id: &str,
    net: &Net,
) -> Result<Value, vpcep_client::ClientError> {
    c.post(
        &c.project_path("/vpc-endpoints"),
        &json!({"endpoint_service_id": service_id, "vpc_id": net.vpc, "subnet_id": net.subnet}),
    )
    .await
}

/// The API error code of a call that had to fail (panics when it succeeded).
pub fn code(r: Result<Value, vpcep_client::ClientError>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e.code().unwrap_or("no-code").to_string(),
    }
}
