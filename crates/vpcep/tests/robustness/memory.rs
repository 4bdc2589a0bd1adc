//! Memory test (issue 8): many parallel oversized (11 MiB) POSTs that can never be authenticated
//! must not make `vpcep serve` buffer them. Each request must be answered 401 (or 413) with the
//! JSON error body, and the server's peak RSS must stay near its baseline.
//!
//! Three shapes of request, each with 32 and with 48 clients, each run on a fresh server (VmHWM is
//! the process's lifetime peak): no Authorization header; a correctly signed request with an
//! access key the server does not know; no Authorization and a chunked body (no Content-Length).
//! A fourth shape signs with a real account's key, so its bodies are read: there the server-wide
//! body budget is what keeps memory bounded (48 clients, a wider bound).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{DataSpec, ServerProc, admin, free_port, rss_kib};

/// Just under the 12 MiB a signed body may have, so only authentication can refuse it.
const BODY_BYTES: usize = 11 * 1024 * 1024;
/// How far above its idle RSS the server may go while refusing the burst.
///
/// Measured before the fix (main at 6aef1d6, 2 cores, debug build, three runs), baseline → peak
/// (VmHWM) → after, in MiB: no Authorization 25 → 211–243 → 45–163 (x32), 25 → 375–411 → 113–166
/// (x48); unknown key 25 → 223–312 → 48–177 (x32), 25 → 290–473 → 113–342 (x48); chunked
/// 25 → 287–353 → 42–106 (x32), 25 → 388–476 → 65–123 (x48). Every body was read before the 401.
/// After the fix (main at 3396b8c: no body read before the signature's headers check out, body
/// capped before reading, a server-wide budget on buffered request bytes), four runs: baseline
/// 25 MiB, peak 35–44 MiB with 32 clients and 40–54 MiB with 48 (+10 to +28 MiB, what 48
/// connections and their tasks cost), "after" equal to the peak (the allocator keeps its arenas);
/// every request answered 401 in 0.1–0.2 s. 64 MiB is about twice the worst of those and still
/// fails on any per-request buffering (the smallest peak before the fix was +186 MiB).
const PEAK_BOUND_KIB: u64 = 64 * 1024;
/// Bound for bodies signed with a real key, which are read: the 64 MiB body budget, plus what
/// the handlers make of the bodies they hold (a parsed copy each, at most five at once), plus
/// the connections. Without the budget, 48 clients would hold 48 × 11 MiB = 528 MiB of bodies.
/// Measured (debug build, 2 cores): baseline 25 MiB, peak 114–134 MiB; it was 257–264 MiB while
/// error messages still echoed the whole 11 MiB name (now cut to 1 KiB). Requests that wait
/// more than 10 s for their share of the budget are answered 429 `EndPoint.0022`.
const KNOWN_KEY_BOUND_KIB: u64 = 192 * 1024;
/// Any project id: the request must be refused before the path's project matters.
const PROJECT: &str = "0123456789abcdef0123456789abcdef";
/// Write granularity of the client (and chunk size of the chunked variant).
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// No Authorization header, Content-Length.
    Unsigned,
    /// Signed like the SDK signs, with an access key the server never issued.
    UnknownKey,
    /// No Authorization header, `Transfer-Encoding: chunked`.
    UnsignedChunked,
    /// Signed with a real account's key: these bodies are read (and refused by the handler), so
    /// what bounds memory is the server-wide budget of buffered body bytes (64 MiB).
    KnownKey,
}

struct Figures {
    shape: Shape,
    clients: usize,
    baseline_kib: u64,
    sampled_peak_kib: u64,
    hwm_kib: u64,
    after_kib: u64,
    statuses: String,
    elapsed: Duration,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_unauthenticated_posts() {
    let t0 = Instant::now();
    let body = Arc::new(oversized_body());
    let mut all = vec![];
    for shape in [
        Shape::Unsigned,
        Shape::UnknownKey,
        Shape::UnsignedChunked,
        Shape::KnownKey,
    ] {
        // Read bodies take seconds in a debug build: one burst of the larger size is enough.
        let sizes: &[usize] = if shape == Shape::KnownKey {
            &[48]
        } else {
            &[32, 48]
        };
        for &clients in sizes {
            all.push(burst(shape, clients, body.clone()).await);
        }
    }
    let mut over = vec![];
    for f in &all {
        let bound = if f.shape == Shape::KnownKey {
            KNOWN_KEY_BOUND_KIB
        } else {
            PEAK_BOUND_KIB
        };
        let line = format!(
            "memory[{:?} x{}]: RSS baseline {} MiB, peak {} MiB (sampled {} MiB), after {} MiB; \
             answers {}; {:.1}s",
            f.shape,
            f.clients,
            mib(f.baseline_kib),
            mib(f.hwm_kib),
            mib(f.sampled_peak_kib),
            mib(f.after_kib),
            f.statuses,
            f.elapsed.as_secs_f64()
        );
        println!("{line}");
        if f.hwm_kib > f.baseline_kib + bound {
            over.push(format!("{line} (bound +{} MiB)", mib(bound)));
        }
    }
    println!("memory: all variants in {:.1}s", t0.elapsed().as_secs_f64());
    assert!(
        over.is_empty(),
        "peak RSS above its bound:\n{}",
        over.join("\n")
    );
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// A JSON VPC create whose name is padded to `BODY_BYTES`: what a client would send, only huge.
fn oversized_body() -> Vec<u8> {
    let head = br#"{"vpc":{"cidr":"10.0.0.0/16","name":""#;
    let tail = br#""}}"#;
    let mut b = Vec::with_capacity(BODY_BYTES);
    b.extend_from_slice(head);
    b.resize(BODY_BYTES - tail.len(), b'a');
    b.extend_from_slice(tail);
    b
}

/// One fresh server, `clients` parallel requests of `shape`, RSS before, during and after.
async fn burst(shape: Shape, clients: usize, body: Arc<Vec<u8>>) -> Figures {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = DataSpec {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("address");
    let account = if shape == Shape::KnownKey {
        Some(admin(&data, &["account", "create", "mem"]).await)
    } else {
        None
    };
    let server = ServerProc::start(data, addr, &dir.path().join("serve.log")).await;
    let pid = server.pid();
    let (baseline_kib, _) = rss_kib(pid);

    // Sample VmRSS while the burst runs (VmHWM gives the true peak; the samples show the shape).
    let done = Arc::new(AtomicBool::new(false));
    let sampled = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, sampled) = (done.clone(), sampled.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let (rss, _) = rss_kib(pid);
                sampled.fetch_max(rss, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    let project = account
        .as_ref()
        .and_then(|a| a["project_id"].as_str())
        .unwrap_or(PROJECT)
        .to_string();
    let head = Arc::new(request_head(
        addr,
        &format!("/v1/{project}/vpcs"),
        shape,
        &body,
        account.as_ref(),
    ));
    let chunked = shape == Shape::UnsignedChunked;
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (body, head) = (body.clone(), head.clone());
            tokio::spawn(async move {
                tokio::time::timeout(
                    Duration::from_secs(120),
                    oversized_post(addr, &head, chunked, &body),
                )
                .await
                .unwrap_or_else(|_| Err("no answer within 120 s".to_string()))
            })
        })
        .collect();
    let mut failures = vec![];
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        match t.await.expect("client task panicked") {
            Ok((status, json)) => {
                *statuses.entry(status).or_default() += 1;
                let well_formed = json["error_code"].is_string() && json["error_msg"].is_string();
                // A real key's bodies reach the handler (400: the name is too long) or wait too
                // long for the body budget (429); nothing else is acceptable.
                let expected = if shape == Shape::KnownKey {
                    status == 400 || status == 429
                } else {
                    status == 401 || status == 413
                };
                if !expected || !well_formed {
                    failures.push(format!("HTTP {status}: {json}"));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.await.expect("sampler");
    let (after_kib, hwm_kib) = rss_kib(pid);

    // Still serving after the storm.
    let ready = reqwest::get(format!("{}/readyz", server.url()))
        .await
        .map(|r| r.status().as_u16());
    assert!(
        matches!(ready, Ok(200)),
        "{shape:?} x{clients}: /readyz after the burst: {ready:?}\n{}",
        server.log_tail()
    );
    assert!(
        failures.is_empty(),
        "{shape:?} x{clients}: {} of {clients} requests not answered 401/413 with a JSON error:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Figures {
        shape,
        clients,
        baseline_kib,
        sampled_peak_kib: sampled.load(Ordering::Relaxed),
        hwm_kib,
        after_kib,
        statuses: statuses
            .iter()
            .map(|(s, n)| format!("{n}x{s}"))
            .collect::<Vec<_>>()
            .join(" "),
        elapsed,
    }
}

/// The request head for `shape`. Built once per burst: signing hashes the 11 MiB body, which
/// takes a while in a debug build, and one unknown key serves every client as well as many.
fn request_head(
    addr: SocketAddr,
    path: &str,
    shape: Shape,
    body: &[u8],
    account: Option<&Value>,
) -> String {
    let mut headers: Vec<(String, String)> = vec![
        ("Host".into(), addr.to_string()),
        (
            "Content-Type".into(),
            "application/json;charset=utf-8".into(),
        ),
    ];
    if shape == Shape::UnknownKey {
        // A real signature over the real body, by a key pair the server never issued.
        headers.push(("X-Project-Id".into(), PROJECT.into()));
        vpcep_auth::sign_request(
            &vpcep_auth::generate_access_key(),
            &vpcep_auth::generate_secret_key(),
            "POST",
            path,
            "",
            &mut headers,
            body,
            OffsetDateTime::now_utc(),
        );
    }
    if let (Shape::KnownKey, Some(a)) = (shape, account) {
        let field = |k: &str| a[k].as_str().unwrap_or_default().to_string();
        headers.push(("X-Project-Id".into(), field("project_id")));
        vpcep_auth::sign_request(
            &field("access_key"),
            &field("secret_key"),
            "POST",
            path,
            "",
            &mut headers,
            body,
            OffsetDateTime::now_utc(),
        );
    }
    if shape == Shape::UnsignedChunked {
        headers.push(("Transfer-Encoding".into(), "chunked".into()));
    } else {
        headers.push(("Content-Length".into(), body.len().to_string()));
    }
    let mut head = format!("POST {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Send one oversized POST over a raw connection (reqwest would not let us choose the framing or
/// keep writing after an early answer) and return the status and the JSON body.
///
/// Reading runs alongside writing: a server that answers before reading the body (the point of
/// the fix) may close the connection while the body is still being sent.
async fn oversized_post(
    addr: SocketAddr,
    head: &str,
    chunked: bool,
    body: &[u8],
) -> Result<(u16, Value), String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut rd, mut wr) = stream.into_split();
    let write = async move {
        wr.write_all(head.as_bytes()).await?;
        for piece in body.chunks(CHUNK) {
            if chunked {
                wr.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                    .await?;
                wr.write_all(piece).await?;
                wr.write_all(b"\r\n").await?;
            } else {
                wr.write_all(piece).await?;
            }
        }
        if chunked {
            wr.write_all(b"0\r\n\r\n").await?;
        }
        wr.flush().await?;
        // Keep the write half open: closing it could look like an aborted request.
        Ok::<_, std::io::Error>(wr)
    };
    let read = read_response(&mut rd);
    tokio::pin!(write, read);
    let mut write_done = false;
    let mut _keep_open = None;
    loop {
        tokio::select! {
            r = &mut read => return r,
            w = &mut write, if !write_done => {
                write_done = true;
                // A write error means the server stopped reading (answered early and closed):
                // its answer should be waiting in the read half.
                _keep_open = w.ok();
            }
        }
    }
}

/// Read one HTTP/1.1 response with a Content-Length (or ending at EOF); status and JSON body.
async fn read_response(rd: &mut (impl AsyncReadExt + Unpin)) -> Result<(u16, Value), String> {
    let mut buf = Vec::with_capacity(4096);
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = rd
            .read(&mut tmp)
            .await
            .map_err(|e| format!("reading the answer: {e} (got {} bytes)", buf.len()))?;
        if n == 0 {
            return Err(format!(
                "connection closed without an answer (got {:?})",
                String::from_utf8_lossy(&buf)
            ));
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    let mut rest = buf[head_end..].to_vec();
    loop {
        if length.is_some_and(|n| rest.len() >= n) {
            break;
        }
        match rd.read(&mut tmp).await {
            Ok(0) => break,
            Ok(n) => rest.extend_from_slice(&tmp[..n]),
            Err(e) => return Err(format!("reading the body: {e}")),
        }
    }
    if let Some(n) = length {
        rest.truncate(n);
    }
    let json = serde_json::from_slice(&rest).unwrap_or_else(|_| {
        Value::String(format!(
            "(not JSON) {}",
            String::from_utf8_lossy(&rest[..rest.len().min(300)])
        ))
    });
    Ok((status, json))
}
