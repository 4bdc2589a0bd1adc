"""The agent protocol the test agent relies on: snapshot, changes long-poll, reports."""

import threading
import time

from huaweicloudsdkvpcep.v1 import model as em

from support import http_request


def test_agent_requires_token(server):
    r = http_request(server.port, "GET", "/agent/v1/snapshot")
    assert r.status == 401
    assert r.header("X-Request-Id")
    r = http_request(server.port, "GET", "/agent/v1/snapshot", headers={"Authorization": "Bearer nope"})
    assert r.status == 401


def test_snapshot_and_changes(server, alice, agent_api):
    snap = agent_api.snapshot()
    assert type(snap["revision"]) is int
    assert http_request(server.port, "GET", "/readyz").header("X-Request-Id")
    rev = snap["revision"]
    for o in snap["objects"][:50]:
        assert set(o) >= {"kind", "id", "generation", "revision", "spec"}
        assert o["kind"] in ("vpc", "subnet", "port", "security_group", "security_group_rule", "server",
                             "loadbalancer", "site", "endpoint_service", "endpoint")

    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    r = agent_api.changes(rev, 2000)
    assert r.status == 200
    body = r.json
    assert body["revision"] > rev
    kinds = {(c["kind"], c["id"]) for c in body["changes"]}
    assert ("vpc", vpc_id) in kinds
    assert ("endpoint_service", sid) in kinds
    svc = [c for c in body["changes"] if c["kind"] == "endpoint_service" and c["id"] == sid][-1]
    assert svc["object"]["spec"]["status"] == "creating"
    assert type(svc["object"]["generation"]) is int

    # long poll: nothing new -> returns after about timeout_ms with no changes
    t0 = time.monotonic()
    r = agent_api.changes(agent_api.snapshot()["revision"], 300)
    took = time.monotonic() - t0
    assert r.status == 200 and r.json["changes"] == []
    assert 0.25 <= took < 5, took

    # deletion shows up as a change whose object is null once removed
    agent_api.report_one("endpoint_service", sid, "applied")
    alice.vpcep.delete_endpoint_service(em.DeleteEndpointServiceRequest(vpc_endpoint_service_id=sid))
    rev2 = agent_api.snapshot()["revision"]
    agent_api.report_one("endpoint_service", sid, "removed")
    r = agent_api.changes(rev2, 2000)
    gone = [c for c in r.json["changes"] if c["id"] == sid]
    assert gone and gone[-1]["object"] is None
    assert agent_api.object("endpoint_service", sid) is None


def test_changes_wakes_up_on_write(server, alice, agent_api):
    rev = agent_api.snapshot()["revision"]
    out = {}

    def poll():
        t0 = time.monotonic()
        out["r"] = agent_api.changes(rev, 5000)
        out["took"] = time.monotonic() - t0

    th = threading.Thread(target=poll)
    th.start()
    alice.network()
    th.join(10)
    assert out["r"].status == 200 and out["r"].json["changes"]
    assert out["took"] < 4.5, out["took"]
