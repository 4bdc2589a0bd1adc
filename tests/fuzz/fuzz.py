"""Fuzz every operation of a real `vpcep serve`'s /openapi.json with schemathesis, signed requests.

    fuzz.py --backend sqlite|postgres [--database-url URL] [--max-examples N] [--seed S]

Starts the server on a free 127.0.0.1 port with a throw-away data dir (and the given database),
creates the accounts, runs a test agent (tests/sdk/support.py's FakeAgent: services become
available, endpoints accepted), seeds one of every resource so id-taking operations also hit
existing objects, then runs `schemathesis run` with hooks.py (signing, seeded ids, the error-body
check). Fails on any check failure (5xx, schema or content-type violations, error bodies that are
not {"error_code","error_msg"}) and on any panic in the server log. Prints one summary line.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "sdk"))

from support import AgentClient, FakeAgent, Tenant, http_request, sign_headers, uniq  # noqa: E402

BIN = os.environ.get("VPCEP_BIN") or str(REPO / "target" / "debug" / "vpcep")

# The checks that decide: a server error, a response outside its documented status, content type,
# headers or schema, an error body of the wrong shape, and (stateful phase) a deleted resource that
# is still there or a created one that is not. Not `positive_data_acceptance` /
# `negative_data_rejection`: the API is deliberately lenient (`"80"` for 80, unknown keys) and
# answers schema-valid but semantically wrong input with 4xx, as Huawei's does; not `ignored_auth`,
# which would need requests the hook does not sign.
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "error_body_shape",
])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin(data_dir: str, db: list[str], *args: str) -> str:
    r = subprocess.run([BIN, "admin", *args, "--data-dir", data_dir, *db], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"vpcep admin {' '.join(args)}: {r.stderr}{r.stdout}")
    return r.stdout


def wait_ready(proc: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"vpcep serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if http_request(port, "GET", "/readyz", timeout=2).status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"vpcep serve not ready after 60 s:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.05)  # polling interval of the readiness probe, not a readiness guess


def ok(r, what: str) -> dict:
    if not 200 <= r.status < 300:
        raise RuntimeError(f"seeding {what}: HTTP {r.status} {r.body[:300]!r}")
    return r.json


def seed(owner: Tenant, consumer: Tenant, agent: AgentClient) -> dict[str, list[str]]:
    """One of each resource, named by the path parameters that take their ids."""
    vpc = ok(owner.raw("POST", "vpcs", {"vpc": {"name": uniq("vpc-"), "cidr": "10.20.0.0/16"}}), "vpc")["vpc"]
    sub = ok(owner.raw("POST", "subnets", {"subnet": {"name": uniq("sub-"), "cidr": "10.20.1.0/24",
                                                      "vpc_id": vpc["id"], "gateway_ip": "10.20.1.1"}}),
             "subnet")["subnet"]
    sg = ok(owner.raw("POST", "security-groups", {"security_group": {"name": uniq("sg-"), "vpc_id": vpc["id"]}}),
            "security group")["security_group"]
    rule = ok(owner.raw("POST", "security-group-rules", {"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 22,
        "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/8"}}), "rule")["security_group_rule"]
    port = ok(owner.raw("POST", "ports", {"port": {"name": uniq("port-"), "network_id": sub["id"]}}),
              "port")["port"]
    srv = owner.lab("POST", "servers", {"server": {"name": uniq("vm-"), "vpc_id": vpc["id"],
                                                   "nics": [{"subnet_id": sub["id"]}]}})["server"]
    lb = owner.loadbalancer(vpc["id"], sub["id"])
    site = owner.lab("POST", "sites", {"site": {"name": uniq("site-"), "vpc_id": vpc["id"],
                                                "cidr": "172.30.0.0/16"}})["site"]
    svc = ok(owner.raw("POST", "vpc-endpoint-services", {
        "port_id": lb["vip_port_id"], "vpc_id": vpc["id"], "server_type": "LB", "service_name": uniq("s"),
        "approval_enabled": False, "ports": [{"client_port": 80, "server_port": 80, "protocol": "TCP"}]}),
        "service")
    perm = ok(owner.raw("POST", f"vpc-endpoint-services/{svc['id']}/permissions/batch-create", {
        "permissions": [{"permission": f"iam:domain::{consumer.domain_id}", "description": "fuzz"}],
        "permission_type": "domainId"}), "permission")["permissions"][0]
    wait(lambda: ok(owner.raw("GET", f"vpc-endpoint-services/{svc['id']}"), "service")["status"] == "available",
         "service available")
    ep = ok(owner.raw("POST", "vpc-endpoints", {"endpoint_service_id": svc["id"], "vpc_id": vpc["id"],
                                                "subnet_id": sub["id"], "enable_dns": True}), "endpoint")
    wait(lambda: ok(owner.raw("GET", f"vpc-endpoints/{ep['id']}"), "endpoint")["status"] == "accepted",
         "endpoint accepted")
    # Disposable objects for the DELETE operations (an empty VPC, a service nobody connects to...).
    dvpc = ok(owner.raw("POST", "vpcs", {"vpc": {"name": uniq("dvpc-"), "cidr": "10.30.0.0/16"}}), "vpc")["vpc"]
    dsub = ok(owner.raw("POST", "subnets", {"subnet": {"name": uniq("dsub-"), "cidr": "10.20.2.0/24",
                                                       "vpc_id": vpc["id"], "gateway_ip": "10.20.2.1"}}),
              "subnet")["subnet"]
    dsg = ok(owner.raw("POST", "security-groups", {"security_group": {"name": uniq("dsg-")}}), "sg")["security_group"]
    drule = ok(owner.raw("POST", "security-group-rules", {"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress", "protocol": "udp", "port_range_min": 53,
        "port_range_max": 53}}), "rule")["security_group_rule"]
    dport = ok(owner.raw("POST", "ports", {"port": {"name": uniq("dport-"), "network_id": sub["id"]}}),
               "port")["port"]
    dsrv = owner.lab("POST", "servers", {"server": {"name": uniq("dvm-"), "vpc_id": vpc["id"],
                                                    "nics": [{"subnet_id": sub["id"]}]}})["server"]
    dlb = owner.loadbalancer(vpc["id"], sub["id"])
    dsite = owner.lab("POST", "sites", {"site": {"name": uniq("dsite-"), "vpc_id": vpc["id"],
                                                 "cidr": "172.31.0.0/16"}})["site"]
    dsvc = ok(owner.raw("POST", "vpc-endpoint-services", {
        "port_id": dsrv["nics"][0]["port_id"], "vpc_id": vpc["id"], "server_type": "VM",
        "service_name": uniq("d"), "ports": [{"client_port": 81, "server_port": 81, "protocol": "TCP"}]}),
        "service")
    dep = ok(owner.raw("POST", "vpc-endpoints", {"endpoint_service_id": svc["id"], "vpc_id": vpc["id"],
                                                 "subnet_id": sub["id"]}), "endpoint")
    wait(lambda: ok(owner.raw("GET", f"vpc-endpoints/{dep['id']}"), "endpoint")["status"] == "accepted",
         "endpoint accepted")
    ids = {
        "vpc_id": [vpc["id"]],
        "subnet_id": [sub["id"]],
        "port_id": [port["id"], lb["vip_port_id"], srv["nics"][0]["port_id"]],
        "security_group_id": [sg["id"]],
        "security_group_rule_id": [rule["id"]],
        "server_id": [srv["id"]],
        "loadbalancer_id": [lb["id"]],
        "site_id": [site["id"]],
        "vpc_endpoint_service_id": [svc["id"]],
        "vpc_endpoint_id": [ep["id"]],
        "permission_id": [perm["id"]],
        "resource_id": [svc["id"], ep["id"]],
        "version": ["v1"],
        "service_name": [svc["service_name"]],
        "delete:vpc_id": [dvpc["id"]],
        "delete:subnet_id": [dsub["id"]],
        "delete:security_group_id": [dsg["id"]],
        "delete:security_group_rule_id": [drule["id"]],
        "delete:port_id": [dport["id"]],
        "delete:server_id": [dsrv["id"]],
        "delete:loadbalancer_id": [dlb["id"]],
        "delete:site_id": [dsite["id"]],
        "delete:vpc_endpoint_service_id": [dsvc["id"]],
        "delete:vpc_endpoint_id": [dep["id"]],
    }
    ids["any_id"] = sorted({i for k, v in ids.items() if k.endswith("_id") and ":" not in k for i in v})
    return ids


# Values Hypothesis almost never produces but clients do send: NUL, bytes that are not UTF-8, a
# lone `+`, a percent sign on its own.
EDGE_VALUES = ["%00", "a%00b", "%FF", "%C0%AF", "+", "%25", "%2F"]
EDGE_BODIES = [b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b'{"name": "a\\u0000b", "vpc": {"name": "\\u0000"}}']


def probe(port: int, owner: Tenant, doc: dict, seeds: dict) -> tuple[int, list[str]]:
    """Deterministic edge cases for every operation: each path id and each query parameter set to
    each of EDGE_VALUES (raw, already percent-encoded), and each body operation sent EDGE_BODIES
    and a 3 MiB body. Every answer must be < 500 and, when an error, the JSON error body."""
    failures: list[str] = []
    sent = 0

    def send(method: str, path: str, query: str = "", body: bytes | None = None) -> None:
        nonlocal sent
        headers = {"Content-Type": "application/json"}
        if path.startswith("/v1/"):
            pairs = [tuple(kv.split("=", 1)) for kv in query.split("&")] if query else []
            headers = sign_headers(owner.ak, owner.sk, method, f"127.0.0.1:{port}", path,
                                   [(k, v) for k, v in pairs], {**headers, "X-Project-Id": owner.project_id},
                                   body or b"")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request(method, path + (f"?{query}" if query else ""), body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            ctype = r.getheader("Content-Type") or ""
        finally:
            conn.close()
        sent += 1
        what = f"{method} {path}{'?' + query if query else ''} body={None if body is None else body[:40]!r}"
        if r.status >= 500:
            failures.append(f"{what}: HTTP {r.status} {data[:200]!r}")
        elif r.status >= 400:
            try:
                j = json.loads(data)
                good = isinstance(j, dict) and isinstance(j.get("error_code"), str) and isinstance(j.get("error_msg"), str)
            except ValueError:
                good = False
            if not good or not ctype.startswith("application/json"):
                failures.append(f"{what}: HTTP {r.status} {ctype} {data[:200]!r}")

    def fill(path: str, override: tuple[str, str] | None = None) -> str:
        out = []
        for seg in path.split("/"):
            if seg.startswith("{"):
                name = seg.strip("{}")
                if override and override[0] == name:
                    out.append(override[1])
                elif name == "project_id":
                    out.append(owner.project_id)
                else:
                    out.append((seeds.get(name) or ["0123456789abcdef0123456789abcdef"])[0])
            else:
                out.append(seg)
        return "/".join(out) or "/"

    for path, item in doc["paths"].items():
        if path.startswith("/agent/"):
            continue  # the agent routes are fuzzed by schemathesis; their long-poll makes probes slow
        for method, op in item.items():
            m = method.upper()
            if m == "DELETE":
                continue  # would remove the seeded objects the other probes use
            for p in op.get("parameters", []):
                for v in EDGE_VALUES:
                    if p["in"] == "path" and p["name"] != "project_id":
                        send(m, fill(path, (p["name"], v)), body=b"{}" if "requestBody" in op else None)
                    elif p["in"] == "query":
                        send(m, fill(path), query=f"{p['name']}={v}")
            if "requestBody" in op:
                for b in EDGE_BODIES:
                    send(m, fill(path), body=b)
    send("POST", fill("/v1/{project_id}/vpcs"), body=b"{" + b" " * (3 << 20) + b"}")
    return sent, failures


def wait(fn, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > deadline:
            raise RuntimeError(f"seeding: timed out waiting for {what}")
        time.sleep(0.05)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    ap.add_argument("--database-url")
    ap.add_argument("--max-examples", type=int, default=int(os.environ.get("VPCEP_FUZZ_EXAMPLES", "15")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("VPCEP_FUZZ_SEED", "20240601")))
    ap.add_argument("--phases", default=os.environ.get("VPCEP_FUZZ_PHASES", "examples,coverage,fuzzing,stateful"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (log, reports)")
    ap.add_argument("extra", nargs="*", help="extra `schemathesis run` arguments")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix=f"vpcep-fuzz-{args.backend}-"))
    data_dir = root / "data"
    data_dir.mkdir()
    log_path = root / "serve.log"
    db = ["--database-url", args.database_url] if args.database_url else []
    proc = agent = None
    started = time.monotonic()
    try:
        accounts = {}
        for name in ("alice", "bob"):
            accounts[name] = json.loads(admin(str(data_dir), db, "account", "create", name, "-o", "json"))
            for kind in ("endpoint_service", "endpoint"):
                admin(str(data_dir), db, "quota", "set", name, "--type", kind, "--limit", "100000")
        port = free_port()
        with open(log_path, "w") as log:
            proc = subprocess.Popen([BIN, "serve", "--no-agent", "--listen", f"127.0.0.1:{port}", "--data-dir",
                                     str(data_dir), "--region", "cn-north-4", *db],
                                    stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "RUST_BACKTRACE": "1"})
        wait_ready(proc, port, log_path)
        token = (data_dir / "agent.token").read_text().strip()
        tenants = {n: Tenant(name=a["name"], domain_id=a["domain_id"], project_id=a["project_id"],
                             region=a["region"], ak=a["access_key"], sk=a["secret_key"], port=port)
                   for n, a in accounts.items()}
        agent_client = AgentClient(port, token)
        agent = FakeAgent(agent_client)
        agent.start()
        seeds = seed(tenants["alice"], tenants["bob"], agent_client)
        seeds_path = root / "seeds.json"
        seeds_path.write_text(json.dumps(seeds))
        counts_path = root / "counts.json"
        report = root / "report.json"
        alice = tenants["alice"]
        env = {**os.environ,
               "SCHEMATHESIS_HOOKS": "hooks",
               "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
               "VPCEP_FUZZ_AK": alice.ak, "VPCEP_FUZZ_SK": alice.sk, "VPCEP_FUZZ_PROJECT": alice.project_id,
               "VPCEP_FUZZ_AGENT_TOKEN": token, "VPCEP_FUZZ_SEEDS": str(seeds_path),
               "VPCEP_FUZZ_COUNTS": str(counts_path), "NO_COLOR": "1"}
        base = f"http://127.0.0.1:{port}"
        cmd = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{base}/openapi.json", "--url", base,
               "--checks", CHECKS, "--max-examples", str(args.max_examples), "--seed", str(args.seed),
               "--phases", args.phases, "--workers", "2", "--request-timeout", "20",
               "--suppress-health-check", "all", "--report", "json", "--report-json-path", str(report),
               "--output-truncate", "true", *args.extra]
        doc = json.loads(http_request(port, "GET", "/openapi.json").body)
        probes, probe_failures = probe(port, alice, doc, seeds)
        for f in probe_failures[:20]:
            print(f"fuzz[{args.backend}]: probe failure: {f}", flush=True)
        print(f"fuzz[{args.backend}]: {probes} edge-case probes, {len(probe_failures)} failures", flush=True)
        print(f"fuzz[{args.backend}]: {' '.join(cmd[1:])}", flush=True)
        st = subprocess.run(cmd, env=env, cwd=root)
        counts = json.loads(counts_path.read_text()) if counts_path.exists() else {}
        failures, operations, cases = summarize(report)
        agent.stop()
        agent_errors = list(agent.errors)
        agent = None
        log_text = log_path.read_text(errors="replace")
        panics = [m.group(0) for m in re.finditer(r"panicked at[^\n]*", log_text)]
        for p in panics[:10]:
            print(f"fuzz[{args.backend}]: server panic: {p}", flush=True)
        if agent_errors:
            print(f"fuzz[{args.backend}]: test agent errors: {agent_errors[:5]}", flush=True)
        failed = st.returncode != 0 or bool(panics) or bool(probe_failures)
        print(f"fuzz[{args.backend}] summary: operations={operations} test_cases={cases} "
              f"requests={counts.get('requests', 0) + probes} probes={probes} "
              f"2xx={counts.get('2xx', 0)} 4xx={counts.get('4xx', 0)} 5xx={counts.get('5xx', 0)} "
              f"failures={failures} probe_failures={len(probe_failures)} panics={len(panics)} schemathesis_exit={st.returncode} "
              f"wall={time.monotonic() - started:.0f}s -> {'FAIL' if failed else 'ok'}", flush=True)
        if failed:
            print(f"fuzz[{args.backend}]: server log tail:\n{log_text[-2000:]}", flush=True)
        return 1 if failed else 0
    finally:
        if agent is not None:
            agent.stop()
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if args.keep:
            print(f"fuzz[{args.backend}]: kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def summarize(report: Path) -> tuple[object, object, object]:
    """(unique failures + errors, operations tested, test cases) from schemathesis' JSON report."""
    try:
        data = json.loads(report.read_text())
        cases = data["test_cases"]
        return (cases["unique_failures"] + cases["errored"], data["operations"]["tested"], cases["generated"])
    except (OSError, ValueError, KeyError, TypeError):
        return "?", "?", "?"


if __name__ == "__main__":
    sys.exit(main())
