"""The operator CLI next to a running server, and the serve process lifecycle."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from huaweicloudsdkvpcep.v1 import model as em

from conftest import BIN, _free_port
from support import Tenant, http_request, raw_json, uniq


def test_admin_account_create_while_serving(server):
    name = uniq("acct")
    out = subprocess.run([BIN, "admin", "account", "create", name, "--data-dir", server.data_dir, "-o", "json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    a = json.loads(out.stdout)
    assert set(a) == {"name", "domain_id", "project_id", "region", "access_key", "secret_key"}
    assert a["name"] == name and a["region"] == "cn-north-4"
    assert all(isinstance(a[k], str) and a[k] for k in a)
    t = Tenant(name=name, domain_id=a["domain_id"], project_id=a["project_id"], region=a["region"],
               ak=a["access_key"], sk=a["secret_key"], port=server.port)
    j = raw_json(t.vpcep.list_endpoint_service(em.ListEndpointServiceRequest()))
    assert j == {"endpoint_services": [], "total_count": 0}


def test_admin_accounts_have_distinct_identities(server):
    accts = server.accounts.values()
    for key in ("domain_id", "project_id", "access_key"):
        values = [a[key] for a in accts]
        assert len(set(values)) == len(values), key
    assert server.accounts["carol"]["region"] == "cn-south-1"


def test_client_fixtures(vpcep_clients, vpc_clients, tenants):
    from huaweicloudsdkvpc.v2 import model as vm
    assert set(vpcep_clients) == set(vpc_clients) == {"alice", "bob", "carol", "dave", "erin"}
    for name, client in vpcep_clients.items():
        assert client.list_quota_details(em.ListQuotaDetailsRequest()).status_code == 200, name
        assert vpc_clients[name].list_vpcs(vm.ListVpcsRequest()).status_code == 200, name
    assert tenants["carol"].region == "cn-south-1"


def test_serve_exits_on_sigterm():
    root = tempfile.mkdtemp(prefix="vpcep-sdk-sig-")
    proc = None
    try:
        port = _free_port()
        proc = subprocess.Popen([BIN, "serve", "--no-agent", "--listen", f"127.0.0.1:{port}", "--data-dir", root],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"serve exited early with {proc.returncode}"
            try:
                if http_request(port, "GET", "/readyz", timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.05)
        assert os.path.exists(os.path.join(root, "agent.token"))
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
        assert rc == 0, rc
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(root, ignore_errors=True)


def _serve(root: str):
    """`vpcep serve --no-agent` on `root`, ready; returns (process, port)."""
    port = _free_port()
    proc = subprocess.Popen([BIN, "serve", "--no-agent", "--listen", f"127.0.0.1:{port}", "--data-dir", root],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, f"serve exited early with {proc.returncode}"
        try:
            if http_request(port, "GET", "/readyz", timeout=2).status == 200:
                return proc, port
        except OSError:
            pass
        assert time.monotonic() < deadline, "not ready"
        time.sleep(0.05)


def test_serve_restart_keeps_one_builtin_dns_service():
    """The start-up bootstrap of the DNS cloud service (SPEC S2) is idempotent: a restart adds no
    account and no service, and the service keeps its id."""
    root = tempfile.mkdtemp(prefix="vpcep-sdk-boot-")
    proc = None

    def admin(*args):
        r = subprocess.run([BIN, "admin", *args, "--data-dir", root, "-o", "json"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr + r.stdout
        return json.loads(r.stdout)

    try:
        seen = []
        a = None
        for _ in range(2):
            proc, port = _serve(root)
            if a is None:
                a = admin("account", "create", uniq("boot"))
            t = Tenant(name=a["name"], domain_id=a["domain_id"], project_id=a["project_id"], region=a["region"],
                       ak=a["access_key"], sk=a["secret_key"], port=port)
            j = raw_json(t.vpcep.list_service_public_details(em.ListServicePublicDetailsRequest()))
            assert [s["service_name"] for s in j["endpoint_services"]] == ["cn.ctyun.cn-north-4.dns"], j
            accounts = sorted(x["name"] for x in admin("account", "list"))
            assert accounts.count("operator") == 1, accounts
            seen.append((j["endpoint_services"][0]["id"], accounts))
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
            proc = None
        assert seen[0] == seen[1], seen
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(root, ignore_errors=True)
