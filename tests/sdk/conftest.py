"""Session fixtures: one `vpcep serve` on a free port with a throw-away data dir, its accounts,
SDK clients per account, the raw signed-request helper and the test agent."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import AgentClient, FakeAgent, Tenant, http_request  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("VPCEP_BIN") or str(REPO / "target" / "debug" / "vpcep")

# name -> (region or None, {quota type: limit})
ACCOUNTS = {
    "alice": (None, {"endpoint_service": 1000, "endpoint": 1000}),  # owner of most services
    "bob": (None, {"endpoint_service": 1000, "endpoint": 1000}),  # consumer
    "carol": ("cn-south-1", {}),  # a project in another region
    "dave": (None, {"endpoint_service": 1, "endpoint": 1}),  # quota exhaustion
    "erin": (None, {"endpoint_service": 7, "endpoint": 9}),  # quota listing
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _admin(data_dir: str, *args: str) -> str:
    r = subprocess.run([BIN, "admin", *args, "--data-dir", data_dir], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"vpcep admin {' '.join(args)} failed ({r.returncode}): {r.stderr}{r.stdout}")
    return r.stdout


class Server:
    def __init__(self, port: int, data_dir: str, accounts: dict, log_path: str):
        self.port = port
        self.data_dir = data_dir
        self.accounts = accounts
        self.log_path = log_path
        self.token = Path(data_dir, "agent.token").read_text().strip()
        self.agent = AgentClient(port, self.token)

    def log_tail(self, n: int = 4000) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")[-n:]
        except OSError:
            return ""


@pytest.fixture(scope="session")
def server():
    if not os.access(BIN, os.X_OK):
        pytest.exit(f"vpcep binary not found at {BIN} (set VPCEP_BIN or run `cargo build -p vpcep`)", 2)
    root = tempfile.mkdtemp(prefix="vpcep-sdk-")
    data_dir = os.path.join(root, "data")
    os.makedirs(data_dir)
    log_path = os.path.join(root, "serve.log")
    proc = None
    log = None
    try:
        accounts = {}
        for name, (region, quotas) in ACCOUNTS.items():
            args = ["account", "create", name, "-o", "json"]
            if region:
                args += ["--region", region]
            accounts[name] = json.loads(_admin(data_dir, *args))
            for kind, limit in quotas.items():
                _admin(data_dir, "quota", "set", name, "--type", kind, "--limit", str(limit))
        port = _free_port()
        log = open(log_path, "w")
        proc = subprocess.Popen([BIN, "serve", "--no-agent", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
                                 "--region", "cn-north-4"], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vpcep serve exited with {proc.returncode}:\n"
                                   + Path(log_path).read_text(errors="replace")[-4000:])
            try:
                if http_request(port, "GET", "/readyz", timeout=2).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("vpcep serve not ready after 30s:\n"
                                   + Path(log_path).read_text(errors="replace")[-4000:])
            time.sleep(0.05)
        yield Server(port, data_dir, accounts, log_path)
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if log is not None:
            log.close()
        shutil.rmtree(root, ignore_errors=True)


def _tenant(server: Server, name: str) -> Tenant:
    a = server.accounts[name]
    return Tenant(name=a["name"], domain_id=a["domain_id"], project_id=a["project_id"], region=a["region"],
                  ak=a["access_key"], sk=a["secret_key"], port=server.port)


@pytest.fixture(scope="session")
def alice(server) -> Tenant:
    return _tenant(server, "alice")


@pytest.fixture(scope="session")
def bob(server) -> Tenant:
    return _tenant(server, "bob")


@pytest.fixture(scope="session")
def carol(server) -> Tenant:
    return _tenant(server, "carol")


@pytest.fixture(scope="session")
def dave(server) -> Tenant:
    return _tenant(server, "dave")


@pytest.fixture(scope="session")
def erin(server) -> Tenant:
    return _tenant(server, "erin")


@pytest.fixture(scope="session")
def tenants(server) -> dict:
    """Every account of the session as a Tenant (clients, raw signed requests, builders)."""
    return {name: _tenant(server, name) for name in server.accounts}


@pytest.fixture(scope="session")
def vpcep_clients(tenants) -> dict:
    """name -> huaweicloudsdkvpcep.v1.VpcepClient (BasicCredentials(ak, sk, project_id) + with_endpoint)."""
    return {name: t.vpcep for name, t in tenants.items()}


@pytest.fixture(scope="session")
def vpc_clients(tenants) -> dict:
    """name -> huaweicloudsdkvpc.v2.VpcClient."""
    return {name: t.vpc for name, t in tenants.items()}


@pytest.fixture
def agent(server):
    """A running test agent for this test; stopped (and checked for errors) afterwards."""
    a = FakeAgent(server.agent)
    a.start()
    try:
        yield a
    finally:
        a.stop()
    assert not a.errors, f"test agent errors: {a.errors}"


@pytest.fixture
def agent_api(server) -> AgentClient:
    """Raw agent protocol access, for manual (synchronous) agent steps."""
    return server.agent
