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
