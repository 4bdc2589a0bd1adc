//! Console integration tests: the real router (oneshot requests) over a test control plane
//! (`vpcep-test-support`, temporary SQLite store).
//! Sign-in, session cookie flags and signing, CSRF, language, and rejected forms keeping values.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use vpcep_console::{ConsoleOptions, ConsoleState, ErrorCodes, Keys};
use vpcep_control::{Control, NewAccount};
use vpcep_test_support::server::{Server, every_backend};

/// The Huawei front's codes, as `vpcep serve` hands them to the console.
const HUAWEI: ErrorCodes = ErrorCodes {
    code: vpcep_huawei::error::vpcep_code,
    status: vpcep_huawei::error::vpcep_status,
    stored_failure: vpcep_huawei::error::stored_data_plane_failure,
};

struct Env {
    control: Control,
    key_file: std::path::PathBuf,
    alice: NewAccount,
    _server: Server,
}

async fn env() -> Env {
    env_on(Server::start().await).await
}

async fn env_on(server: Server) -> Env {
    let alice = server.account("alice").await.info;
    Env {
        control: server.control.clone(),
        key_file: server.dir().join("console.key"),
        alice,
        _server: server,
    }
}

/// The console's state as `vpcep serve` builds it (the key from `key_file`).
fn console_state(control: &Control, key_file: &std::path::Path) -> ConsoleState {
    let keys = Keys::load_or_create(key_file).expect("console key");
    ConsoleState::new(control.clone(), keys, ConsoleOptions::default(), HUAWEI)
}

/// A console app over `server`'s control plane, as `vpcep serve` builds it.
fn console_app(server: &Server) -> Router {
    vpcep_console::router(console_state(
        &server.control,
        &server.dir().join("console.key"),
    ))
}

impl Env {
    /// A console app as `vpcep serve` builds it (the key from `console.key`).
    fn app(&self) -> Router {
        vpcep_console::router(console_state(&self.control, &self.key_file))
    }
}

struct Resp {
    status: StatusCode,
    set_cookies: Vec<String>,
    location: Option<String>,
    body: String,
}

impl Resp {
    fn cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }
    /// `name=value` of a Set-Cookie, for sending back.
    fn cookie_pair(&self, name: &str) -> String {
        self.cookie(name)
            .and_then(|c| c.split(';').next())
            .unwrap_or_default()
            .to_string()
    }
    /// The first `name="csrf" value="…"` on the page.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a csrf field") + marker.len();
        let end = self.body[start..].find('"').expect("end of value") + start;
        self.body[start..end].to_string()
    }
}

async fn send(app: &Router, req: Request<Body>) -> Resp {
    let res = app.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let set_cookies = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let location = res
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = axum::body::to_bytes(res.into_body(), 4 << 20)
        .await
        .expect("body");
    Resp {
        status,
        set_cookies,
        location,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(app: &Router, path: &str, cookie: &str) -> Resp {
    let mut b = Request::get(path);
    if !cookie.is_empty() {
        b = b.header(header::COOKIE, cookie);
    }
    send(app, b.body(Body::empty()).expect("request")).await
}

async fn post(app: &Router, path: &str, cookie: &str, form: &[(&str, &str)]) -> Resp {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut b =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if !cookie.is_empty() {
        b = b.header(header::COOKIE, cookie);
    }
    send(app, b.body(Body::from(body)).expect("request")).await
}

/// Sign in through the form; returns the session cookie pair.
async fn sign_in(app: &Router, who: &NewAccount) -> String {
    let page = get(app, "/console/login", "").await;
    assert_eq!(page.status, StatusCode::OK);
    let login_cookie = page.cookie_pair("vpcep_login");
    let r = post(
        app,
        "/console/login",
        &login_cookie,
        &[
            ("csrf", &page.csrf()),
            ("ak", &who.access_key),
            ("sk", &who.secret_key),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/console/endpoints"));
    r.cookie_pair("vpcep_session")
}

#[tokio::test]
async fn sign_in_sets_a_signed_httponly_samesite_cookie() {
    let env = env().await;
    let app = env.app();
    let page = get(&app, "/console/login", "").await;
    let login = page.cookie("vpcep_login").expect("sign-in nonce cookie");
    assert!(login.contains("HttpOnly") && login.contains("SameSite=Lax"));
    let r = post(
        &app,
        "/console/login",
        &page.cookie_pair("vpcep_login"),
        &[
            ("csrf", &page.csrf()),
            ("ak", &env.alice.access_key),
            ("sk", &env.alice.secret_key),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let session = r.cookie("vpcep_session").expect("session cookie");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/console", "Max-Age="] {
        assert!(session.contains(flag), "{flag} missing in {session}");
    }
    assert!(!session.contains(&env.alice.secret_key));
    let pair = r.cookie_pair("vpcep_session");
    let list = get(&app, "/console/endpoints", &pair).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("alice"));
    assert!(list.body.contains("<h1>终端节点</h1>"));
}

#[tokio::test]
async fn wrong_secret_is_refused_and_the_access_key_kept() {
    let env = env().await;
    let app = env.app();
    let page = get(&app, "/console/login", "").await;
    let r = post(
        &app,
        "/console/login",
        &page.cookie_pair("vpcep_login"),
        &[
            ("csrf", &page.csrf()),
            ("ak", &env.alice.access_key),
            ("sk", "wrong"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.cookie("vpcep_session").is_none());
    assert!(
        r.body
            .contains(&format!("value=\"{}\"", env.alice.access_key))
    );
    assert!(r.body.contains("id=\"sk-err\""));
    assert!(!r.body.contains("wrong"), "the secret is never echoed");
    // An unknown access key reads the same.
    let r = post(
        &app,
        "/console/login",
        &page.cookie_pair("vpcep_login"),
        &[("csrf", &page.csrf()), ("ak", "NOPE"), ("sk", "x")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Without the sign-in token the form is refused.
    let r = post(
        &app,
        "/console/login",
        "",
        &[("ak", &env.alice.access_key), ("sk", &env.alice.secret_key)],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.cookie("vpcep_session").is_none());
}

/// An access key with a NUL (which no store can hold) reads as any unknown key, on every backend
/// (it was a 500 on PostgreSQL, before anything was authenticated).
#[tokio::test]
async fn nul_in_the_access_key_is_an_unknown_key_on_every_backend() {
    let mut envs = vec![];
    for server in every_backend().await {
        envs.push((server.backend, env_on(server).await));
    }
    for (backend, env) in envs {
        let app = env.app();
        let page = get(&app, "/console/login", "").await;
        let r = post(
            &app,
            "/console/login",
            &page.cookie_pair("vpcep_login"),
            &[("csrf", &page.csrf()), ("ak", "AK\0X"), ("sk", "x")],
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{backend}: {}", r.body);
        assert!(r.body.contains("id=\"sk-err\""), "{backend}");
    }
}

#[tokio::test]
async fn every_post_needs_the_session_csrf_token() {
    let env = env().await;
    let app = env.app();
    let session = sign_in(&app, &env.alice).await;
    let form = get(&app, "/console/services/new", &session).await;
    let token = form.csrf();
    for bad in ["", "00", &"ab".repeat(32)] {
        for path in [
            "/console/services/new",
            "/console/endpoints/new",
            "/console/logout",
            "/console/services/x/delete",
            "/console/endpoints/x/delete",
        ] {
            let r = post(&app, path, &session, &[("csrf", bad), ("confirmed", "1")]).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} with {bad:?}");
        }
    }
    // Another session's token does not work either.
    let other = sign_in(&app, &env.alice).await;
    let other_token = get(&app, "/console/services/new", &other).await.csrf();
    assert_ne!(other_token, token);
    let r = post(&app, "/console/logout", &session, &[("csrf", &other_token)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(&app, "/console/logout", &session, &[("csrf", &token)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.cookie("vpcep_session")
            .is_some_and(|c| c.contains("Max-Age=0"))
    );
}

#[tokio::test]
async fn sessions_survive_a_restart_and_refuse_tampering() {
    let env = env().await;
    let session = sign_in(&env.app(), &env.alice).await;
    // A new app (a restarted server) reads the same console.key.
    let app2 = env.app();
    assert_eq!(
        get(&app2, "/console/quotas", &session).await.status,
        StatusCode::OK
    );
    // Altered cookies go back to sign-in.
    let tampered = session.replace(&env.alice.project_id, &"0".repeat(32));
    assert_ne!(tampered, session);
    let r = get(&app2, "/console/quotas", &tampered).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location.as_deref(), Some("/console/login"));
    // Without a session: pages redirect, fragments answer 401.
    assert_eq!(
        get(&app2, "/console/endpoints", "").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        get(&app2, "/console/status/endpoint/x", "").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn rejected_service_form_keeps_values_and_names_the_field() {
    let env = env().await;
    let app = env.app();
    let session = sign_in(&app, &env.alice).await;
    let token = get(&app, "/console/services/new", &session).await.csrf();
    let r = post(
        &app,
        "/console/services/new",
        &session,
        &[
            ("csrf", &token),
            ("op", "confirm"),
            ("service_name", "bad name!"),
            ("vpc_id", "v1"),
            ("approval", "off"),
            ("server_type", "VM"),
            ("port_protocol", "UDP"),
            ("port_server", "70000"),
            ("port_client", "53"),
            ("port_protocol", "TCP"),
            ("port_server", "8080"),
            ("port_client", "80"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let b = &r.body;
    assert!(b.contains("id=\"service_name-err\""), "{b}");
    assert!(b.contains("EndPoint.3076"));
    assert!(b.contains("value=\"bad name!\""));
    assert!(b.contains("id=\"ports-0-err\"") && b.contains("EndPoint.3043"));
    assert!(b.contains("value=\"70000\"") && b.contains("value=\"8080\""));
    assert!(b.contains("<option value=\"UDP\" selected>"));
    assert!(b.contains("value=\"off\" checked"));
    assert!(b.contains("value=\"VM\" checked"));
    // In Chinese, naming the field and the value; the code on its own line.
    assert!(
        b.contains(
            "服务端口 70000 超出范围 1–65535。<span class=\"err-code\">EndPoint.3043</span>"
        ),
        "{b}"
    );
    assert!(
        !b.contains("is out of range"),
        "no English sentence on a Chinese page"
    );
    // Only the wrong input of the row is marked.
    let tag = |id: &str| {
        let start = b.find(&format!("id=\"{id}\"")).expect("input");
        let end = b[start..].find('>').expect("end of tag") + start;
        b[start..end].to_string()
    };
    assert!(tag("port_server_0").contains("aria-invalid=\"true\""));
    assert!(!tag("port_client_0").contains("aria-invalid"));
    assert!(!tag("port_protocol_0").contains("aria-invalid"));
    // One region: nothing to switch to at the top right.
    assert!(!b.contains("右上角"));
    // The API's own check (no such VPC) comes back on its field too, after 规格确认.
    let r = post(
        &app,
        "/console/services/new",
        &session,
        &[
            ("csrf", &token),
            ("op", "submit"),
            ("service_name", "web"),
            ("vpc_id", "no-such-vpc"),
            ("server_type", "LB"),
            ("lb_port_id", "p"),
            ("port_protocol", "TCP"),
            ("port_server", "8080"),
            ("port_client", "80"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("id=\"vpc_id-err\""), "{}", r.body);
    assert!(r.body.contains("EndPoint.2001"));
    assert!(r.body.contains("value=\"web\""));
}

#[tokio::test]
async fn rejected_endpoint_form_keeps_values() {
    let env = env().await;
    let app = env.app();
    let session = sign_in(&app, &env.alice).await;
    let page = get(&app, "/console/endpoints/new", &session).await;
    assert_eq!(page.status, StatusCode::OK);
    let token = page.csrf();
    let r = post(
        &app,
        "/console/endpoints/new",
        &session,
        &[
            ("csrf", &token),
            ("op", "confirm"),
            ("category", "name"),
            ("service_name", "cn-north-4.nope.x"),
            ("enable_dns", "on"),
            ("port_ip", "10.9.9.9"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("id=\"service_name-err\""));
    assert!(r.body.contains("未找到服务"));
    assert!(r.body.contains("value=\"cn-north-4.nope.x\""));
    assert!(r.body.contains("value=\"10.9.9.9\""));
    assert!(r.body.contains("name=\"enable_dns\" checked"));
    // 验证 as a fragment.
    let v = get(
        &app,
        "/console/endpoints/verify?service_name=cn-north-4.nope.x",
        &session,
    )
    .await;
    assert!(v.body.contains("未找到服务"));
}

#[tokio::test]
async fn english_switch_and_headers() {
    let env = env().await;
    let app = env.app();
    let session = sign_in(&app, &env.alice).await;
    let r = get(&app, "/console/quotas?lang=en", &session).await;
    assert!(r.body.contains("<h1>Quotas</h1>"));
    assert!(
        r.cookie("vpcep_lang")
            .is_some_and(|c| c.starts_with("vpcep_lang=en"))
    );
    let r = get(&app, "/console/lang/en?back=/console/credentials", &session).await;
    assert_eq!(r.location.as_deref(), Some("/console/credentials"));
    let cookies = format!("{session}; vpcep_lang=en");
    let r = get(&app, "/console/credentials", &cookies).await;
    assert!(r.body.contains(&env.alice.domain_id));
    assert!(r.body.contains("My credentials"));
    assert!(!r.body.contains(&env.alice.secret_key));
    // No open redirect through the language switch.
    let r = get(&app, "/console/lang/zh?back=https://evil.example/", "").await;
    assert_eq!(r.location.as_deref(), Some("/console/"));
    // Unknown console paths are console pages.
    let r = get(&app, "/console/nope", &session).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("<html"));
}

#[tokio::test]
async fn an_account_with_several_regions_chooses_one() {
    let env = env().await;
    let south = env
        .control
        .create_project("alice", "cn-south-1")
        .await
        .expect("second project");
    let app = env.app();
    let page = get(&app, "/console/login", "").await;
    let r = post(
        &app,
        "/console/login",
        &page.cookie_pair("vpcep_login"),
        &[
            ("csrf", &page.csrf()),
            ("ak", &env.alice.access_key),
            ("sk", &env.alice.secret_key),
        ],
    )
    .await;
    assert_eq!(r.location.as_deref(), Some("/console/region"));
    let session = r.cookie_pair("vpcep_session");
    let choose = get(&app, "/console/region", &session).await;
    assert!(choose.body.contains("cn-south-1") && choose.body.contains("cn-north-4"));
    let r = post(
        &app,
        "/console/region",
        &session,
        &[
            ("csrf", &choose.csrf()),
            ("project_id", &south.project_id),
            ("back", "/console/services/some-id"),
        ],
    )
    .await;
    assert_eq!(r.location.as_deref(), Some("/console/services"));
    let south_session = r.cookie_pair("vpcep_session");
    let list = get(&app, "/console/endpoints", &south_session).await;
    assert!(list.body.contains("<option value=\"") && list.body.contains("cn-south-1</option>"));
    // With two regions the form points at the switch.
    let form = get(&app, "/console/services/new", &south_session).await;
    assert!(
        form.body.contains("在页面右上角切换区域。"),
        "{}",
        form.body
    );
    // Someone else's (or an unknown) project is refused.
    let r = post(
        &app,
        "/console/region",
        &south_session,
        &[("csrf", &list.csrf()), ("project_id", &"f".repeat(32))],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

/// A resolver that answers what the test says, and notes what it was asked.
struct FakeNames {
    answer: std::sync::Mutex<Option<Vec<std::net::Ipv4Addr>>>,
    asked: std::sync::Mutex<Vec<(String, String)>>,
}

impl vpcep_console::NameCheck for FakeNames {
    fn resolves(&self, vpc_id: &str, name: &str) -> Option<Vec<std::net::Ipv4Addr>> {
        self.asked
            .lock()
            .expect("asked")
            .push((vpc_id.to_string(), name.to_string()));
        self.answer.lock().expect("answer").clone()
    }
}

/// The endpoint page says whether its private name resolves, as this process's resolver would
/// answer (a stand-in here; the real resolver's probe is tested in vpcep-dns): "once accepted"
/// before the endpoint carries traffic, then "resolves to …" or "not yet" from the resolver's
/// own answer for the endpoint's VPC and name, and nothing at all without a resolver.
#[tokio::test]
async fn endpoint_detail_says_whether_its_name_resolves() {
    use serde_json::{Value, json};
    use vpcep_test_support::server::{create_service, network};
    let server = Server::start().await;
    let bob = server.account("bob").await;
    let c = &bob.client;
    let net = network(c, "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let svc = create_service(
        c,
        &net,
        "web",
        false,
        json!([{"client_port": 80, "server_port": 80}]),
    )
    .await
    .expect("service");
    server.settle().await;
    let e: Value = c
        .post(
            &c.project_path("/vpc-endpoints"),
            &json!({"endpoint_service_id": svc["id"], "vpc_id": net.vpc, "subnet_id": net.subnet, "enable_dns": true}),
        )
        .await
        .expect("endpoint");
    let id = e["id"].as_str().expect("id").to_string();
    let name = e["dns_names"][0].as_str().expect("name").to_string();
    let ip: std::net::Ipv4Addr = e["ip"].as_str().expect("ip").parse().expect("ip");
    let names = std::sync::Arc::new(FakeNames {
        answer: std::sync::Mutex::new(Some(vec![ip])),
        asked: std::sync::Mutex::new(vec![]),
    });
    let app = vpcep_console::router(
        console_state(&server.control, &server.dir().join("console.key"))
            .with_name_check(names.clone()),
    );
    let session = sign_in(&app, &bob.info).await;
    let path = format!("/console/endpoints/{id}");
    // Not carrying traffic yet: no claim about the resolver.
    let page = get(&app, &path, &session).await;
    assert!(page.body.contains("连接被接受后生效"), "{}", page.body);
    assert!(!page.body.contains("dns-resolves"));
    server.settle().await;
    let page = get(&app, &path, &session).await;
    assert!(page.body.contains("id=\"dns-resolves\""), "{}", page.body);
    assert!(page.body.contains(&format!("{ip}")));
    assert_eq!(
        names.asked.lock().expect("asked").last(),
        Some(&(net.vpc.clone(), name.clone())),
        "asked in the endpoint's VPC for its name"
    );
    *names.answer.lock().expect("answer") = None;
    let page = get(&app, &path, &session).await;
    assert!(page.body.contains("id=\"dns-not-yet\""));
    assert!(!page.body.contains("dns-resolves"));
    // A console without a resolver in its process says nothing either way.
    let plain = console_app(&server);
    let page = get(&plain, &path, &session).await;
    assert!(page.body.contains(&name));
    assert!(!page.body.contains("dns-state"));
}

/// The endpoint page and the service's 监控 tab draw the last hour of traffic from the agents'
/// counter readings: the first reading is a baseline, what the counters grew by is drawn in its
/// minute, and the service sums its endpoints; another account sees neither.
#[tokio::test]
async fn traffic_charts_draw_what_the_counters_grew_by() {
    use serde_json::{Value, json};
    use vpcep_core::agent::{EndpointCounter, UsageReport};
    use vpcep_core::metering::Traffic;
    use vpcep_test_support::server::{create_service, network};
    let server = Server::start().await;
    let bob = server.account("bob").await;
    let c = &bob.client;
    let net = network(c, "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let svc = create_service(
        c,
        &net,
        "web",
        false,
        json!([{"client_port": 80, "server_port": 80}]),
    )
    .await
    .expect("service");
    server.settle().await;
    let e: Value = c
        .post(
            &c.project_path("/vpc-endpoints"),
            &json!({"endpoint_service_id": svc["id"], "vpc_id": net.vpc, "subnet_id": net.subnet}),
        )
        .await
        .expect("endpoint");
    let id = e["id"].as_str().expect("id").to_string();
    let service_id = svc["id"].as_str().expect("id").to_string();
    let reading = |connections: u64, bytes: u64| UsageReport {
        agent: "test".into(),
        boot_id: "boot".into(),
        counters: vec![EndpointCounter {
            endpoint_id: id.clone(),
            project_id: bob.info.project_id.clone(),
            service_id: service_id.clone(),
            namespace: "gw0".into(),
            rx: Traffic {
                packets: connections * 3,
                bytes,
            },
            tx: Traffic {
                packets: connections * 3,
                bytes: bytes * 2,
            },
            connections,
            read_ms: vpcep_control::now_ms(),
        }],
    };
    let control = &server.control;
    control
        .agent_usage(reading(10, 1_000))
        .await
        .expect("baseline");
    control
        .agent_usage(reading(17, 1_501_000))
        .await
        .expect("grown");
    let app = console_app(&server);
    let session = sign_in(&app, &bob.info).await;
    let page = get(&app, &format!("/console/endpoints/{id}"), &session).await;
    assert!(page.body.contains("id=\"traffic\""), "{}", page.body);
    // Seven new connections, 1.5 MB in and 3.0 MB out, all in the current minute.
    assert!(
        page.body.contains("最近 60 分钟共 7，峰值每分钟 7。"),
        "{}",
        page.body
    );
    assert!(page.body.contains("最近 60 分钟共 1.5 MB"), "{}", page.body);
    assert!(page.body.contains("最近 60 分钟共 3.0 MB"), "{}", page.body);
    assert_eq!(page.body.matches("<rect").count(), 3);
    let tab = get(
        &app,
        &format!("/console/services/{service_id}?tab=traffic"),
        &session,
    )
    .await;
    assert_eq!(tab.status, StatusCode::OK);
    assert!(
        tab.body.contains("最近 60 分钟共 7，峰值每分钟 7。"),
        "{}",
        tab.body
    );
    // Another account: the service is not theirs to see.
    let eve = server.account("eve").await;
    let eve_session = sign_in(&app, &eve.info).await;
    let other = get(
        &app,
        &format!("/console/services/{service_id}?tab=traffic"),
        &eve_session,
    )
    .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    assert!(!other.body.contains("<rect"));
}

/// The console's changes land in the audit log under the signed-in account (front `console`):
/// a delete done (303), a refused create with the code the page showed, a forged form (403);
/// a form step that changes nothing (200) is not recorded.
#[tokio::test]
async fn console_changes_are_audited() {
    use vpcep_control::audit::{AuditLogQuery, Front};
    use vpcep_test_support::server::{create_service, network};
    let env = env().await;
    let carol = env._server.account("carol").await;
    let net = network(&carol.client, "10.1.0.0/16", "10.1.0.0/24", "10.1.0.1").await;
    let svc = create_service(
        &carol.client,
        &net,
        "web",
        false,
        serde_json::json!([{"client_port": 80, "server_port": 80, "protocol": "TCP"}]),
    )
    .await
    .expect("service");
    let sid = svc["id"].as_str().expect("id").to_string();
    env._server.settle().await;
    let app = env.app();
    let session = sign_in(&app, &carol.info).await;
    let token = get(&app, "/console/services/new", &session).await.csrf();
    let r = post(
        &app,
        "/console/services/new",
        &session,
        &[
            ("csrf", &token),
            ("op", "submit"),
            ("service_name", "web2"),
            ("vpc_id", "no-such-vpc"),
            ("server_type", "LB"),
            ("lb_port_id", "p"),
            ("port_protocol", "TCP"),
            ("port_server", "8080"),
            ("port_client", "80"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = post(
        &app,
        &format!("/console/services/{sid}/delete"),
        &session,
        &[("csrf", "00"), ("confirmed", "1")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post(
        &app,
        &format!("/console/services/{sid}/delete"),
        &session,
        &[("csrf", &token), ("confirmed", "1")],
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let caller = env
        .control
        .caller_for(&carol.info.domain_id, &carol.info.project_id)
        .await
        .expect("caller");
    let log = env
        .control
        .audit_log(&caller, &AuditLogQuery::default())
        .await
        .expect("log");
    let console: Vec<_> = log
        .records
        .iter()
        .filter(|r| r.entry.front == Front::Console)
        .map(|r| {
            (
                r.entry.operation.as_str(),
                r.entry.resource_ids.clone(),
                r.entry.status,
                r.entry.error_code.as_str(),
            )
        })
        .collect();
    assert_eq!(
        console,
        vec![
            ("DeleteEndpointService", vec![sid.clone()], 303, ""),
            ("DeleteEndpointService", vec![sid.clone()], 403, ""),
            ("CreateEndpointService", vec![], 400, "EndPoint.2001"),
        ],
        "newest first"
    );
    for r in &log.records {
        assert_eq!(r.entry.domain_id, carol.info.domain_id);
        assert_eq!(r.entry.request_id.len(), 36, "{r:?}");
    }
    // Alice (another account, same console) sees none of it.
    let alice = env
        .control
        .caller_for(&env.alice.domain_id, &env.alice.project_id)
        .await
        .expect("caller");
    let theirs = env
        .control
        .audit_log(&alice, &AuditLogQuery::default())
        .await
        .expect("log");
    assert!(theirs.records.is_empty(), "{:?}", theirs.records);
}

/// The service's 监控 tab lists its newest flow records, newest first, with both sides of the
/// translation (what a backend owner needs to find the consumer behind a 198.19.128.x source);
/// records of other services are not listed.
#[tokio::test]
async fn the_traffic_tab_lists_the_services_recent_flows() {
    use serde_json::{Value, json};
    use vpcep_test_support::server::{create_service, network};
    let flows = tempfile::tempdir().expect("flow dir");
    let server = Server::start_with(vpcep_control::Settings {
        flow_dir: Some(flows.path().to_path_buf()),
        ..vpcep_control::Settings::default()
    })
    .await;
    let bob = server.account("bob").await;
    let c = &bob.client;
    let net = network(c, "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let svc: Value = create_service(
        c,
        &net,
        "web",
        false,
        json!([{"client_port": 80, "server_port": 80}]),
    )
    .await
    .expect("service");
    let sid = svc["id"].as_str().expect("id").to_string();
    let record = |seq: u64, event: &str, service: &str, translated: &str| {
        json!({
            "seq": seq, "event": event, "time_ns": 1_800_000_000_000_000_000u64 + seq,
            "time": "2027-01-15T08:00:00.000Z", "gateway": "g0", "endpoint_id": "e1",
            "service_id": service, "project_id": "consumer-project-1", "domain_id": "d1",
            "service_project_id": bob.info.project_id, "protocol": "tcp",
            "source": "10.0.0.30:51000", "endpoint": "10.0.0.5:80",
            "translated": translated, "backend": "10.0.0.20:80", "conntrack_id": 7,
            "to_backend": {"packets": 5, "bytes": 1500}, "to_consumer": {"packets": 4, "bytes": 2_500_000},
            "end_reason": "closed"
        })
        .to_string()
    };
    let lines = [
        record(1, "start", &sid, "198.19.128.1:40123"),
        record(2, "start", "another-service", "198.19.128.9:1"),
        record(3, "end", &sid, "198.19.128.1:40123"),
    ];
    std::fs::write(
        flows.path().join(vpcep_core::flows::rotated(0)),
        lines.join("\n") + "\n",
    )
    .expect("flow file");
    let app = console_app(&server);
    let session = sign_in(&app, &bob.info).await;
    let tab = get(
        &app,
        &format!("/console/services/{sid}?tab=traffic"),
        &session,
    )
    .await;
    assert_eq!(tab.status, StatusCode::OK);
    let b = &tab.body;
    assert!(b.contains("id=\"flow-table\""), "{b}");
    assert_eq!(b.matches("198.19.128.1:40123").count(), 2, "{b}");
    assert!(!b.contains("198.19.128.9"), "another service's record: {b}");
    assert!(b.contains("consumer-project-1"));
    // Newest first: the end (with its bytes each way) before the start.
    let rows = &b[b.find("<tbody>").expect("rows")..];
    let end = rows.find("<td>结束（正常关闭）</td>").expect("end record");
    let start = rows.find("<td>建立</td>").expect("start record");
    assert!(end < start, "{b}");
    assert!(b.contains("1.5 KB / 2.5 MB"), "{b}");
}
