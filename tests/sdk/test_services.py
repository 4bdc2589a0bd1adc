"""Endpoint services: operations 3, 4, 7, 8, 9, 13 and their validation rules."""

import pytest
from huaweicloudsdkvpcep.v1 import model as em

from support import REGION, api_error, raw_json, uniq

P = em.PortList


# ---- 4 create ---------------------------------------------------------------------------------


def test_create_endpoint_service(alice, agent):
    vpc_id, port_id = alice.vm_backend()
    name = uniq("vm_", 10)
    resp = alice.create_service(vpc_id, port_id, name=name, approval=True, description="vm service",
                                ports=[P(client_port=80, server_port=8080, protocol="TCP"),
                                       P(client_port=53, server_port=5353, protocol="UDP")],
                                tags=[em.TagList(key="env", value="test")])
    assert resp.status_code == 200
    body = raw_json(resp)
    sid = body["id"]
    assert body["service_name"] == f"{REGION}.{name}.{sid}"
    assert body["status"] == "creating"
    assert body["server_type"] == "VM"
    assert body["service_type"] == "interface"
    assert body["vpc_id"] == vpc_id
    assert body["port_id"] == port_id
    assert body["project_id"] == alice.project_id
    assert body["approval_enabled"] is True
    assert body["tcp_proxy"] == "close"
    assert body["description"] == "vm service"
    assert body["ports"] == [{"client_port": 80, "server_port": 8080, "protocol": "TCP"},
                             {"client_port": 53, "server_port": 5353, "protocol": "UDP"}]
    assert body["tags"] == [{"key": "env", "value": "test"}]
    assert isinstance(body["created_at"], str) and body["created_at"].endswith("Z")

    d = alice.wait_service(sid, "available")
    assert d.service_name == f"{REGION}.{name}.{sid}"


def test_create_endpoint_service_lb(alice, agent):
    vpc, sub = alice.network()
    lb = alice.loadbalancer(vpc.id, sub.id)
    resp = alice.create_service(vpc.id, lb["vip_port_id"], server_type="LB")
    body = raw_json(resp)
    assert body["server_type"] == "LB"
    assert body["port_id"] == lb["vip_port_id"]
    assert body["approval_enabled"] is False
    alice.wait_service(body["id"], "available")


def test_create_endpoint_service_without_name(alice):
    vpc_id, port_id = alice.vm_backend()
    resp = alice.create_service(vpc_id, port_id, name=None)
    assert resp.service_name == f"{REGION}.{resp.id}"


@pytest.mark.parametrize("name", ["a" * 17, "bad.name", "bad name", "名字"])
def test_create_endpoint_service_bad_name(alice, name):
    vpc_id, port_id = alice.vm_backend()
    with api_error(400, "EndPoint.3076"):
        alice.create_service(vpc_id, port_id, name=name)


def test_create_endpoint_service_name_16_chars_ok(alice):
    vpc_id, port_id = alice.vm_backend()
    name = "A-b_" + "c" * 12
    resp = alice.create_service(vpc_id, port_id, name=name)
    assert resp.service_name == f"{REGION}.{name}.{resp.id}"


@pytest.mark.parametrize("ports,code", [
    ([P(client_port=80, server_port=0, protocol="TCP")], "EndPoint.3043"),
    ([P(client_port=80, server_port=65536, protocol="TCP")], "EndPoint.3043"),
    ([P(client_port=0, server_port=80, protocol="TCP")], "EndPoint.3004"),
    ([P(client_port=65536, server_port=80, protocol="TCP")], "EndPoint.3004"),
    ([P(client_port=80, server_port=80, protocol="SCTP")], "EndPoint.3075"),
    ([P(client_port=80, server_port=80, protocol="TCP"), P(client_port=80, server_port=80, protocol="TCP")],
     "EndPoint.3044"),
    ([P(client_port=1000 + i, server_port=2000 + i, protocol="TCP") for i in range(201)], "EndPoint.3074"),
])
def test_create_endpoint_service_bad_ports(alice, ports, code):
    vpc_id, port_id = alice.vm_backend()
    with api_error(400, code):
        alice.create_service(vpc_id, port_id, ports=ports)


def test_create_endpoint_service_200_ports_ok(alice):
    vpc_id, port_id = alice.vm_backend()
    ports = [P(client_port=1000 + i, server_port=2000 + i, protocol="TCP") for i in range(200)]
    resp = alice.create_service(vpc_id, port_id, ports=ports)
    assert len(raw_json(resp)["ports"]) == 200


def test_create_endpoint_service_port_conflict_across_services(alice):
    vpc_id, port_id = alice.vm_backend()
    alice.create_service(vpc_id, port_id, ports=[P(client_port=80, server_port=8080, protocol="TCP")])
    # same (server_port, protocol) on the same backend port -> conflict
    with api_error(400, "EndPoint.3044"):
        alice.create_service(vpc_id, port_id, ports=[P(client_port=81, server_port=8080, protocol="TCP")])
    # same server port but another protocol is a different mapping
    alice.create_service(vpc_id, port_id, ports=[P(client_port=80, server_port=8080, protocol="UDP")])
    # the same mapping on another backend is fine
    vpc2, port2 = alice.vm_backend()
    alice.create_service(vpc2, port2, ports=[P(client_port=80, server_port=8080, protocol="TCP")])


def test_create_endpoint_service_max_five_per_backend(alice):
    vpc_id, port_id = alice.vm_backend()
    for i in range(5):
        alice.create_service(vpc_id, port_id, ports=[P(client_port=80, server_port=9000 + i, protocol="TCP")])
    with api_error(400, "EndPoint.3056"):
        alice.create_service(vpc_id, port_id, ports=[P(client_port=80, server_port=9100, protocol="TCP")])


# ---- 8 detail -----------------------------------------------------------------------------------


def test_list_service_details(alice, agent):
    vpc_id, port_id = alice.vm_backend()
    name = uniq("d")
    sid = alice.create_service(vpc_id, port_id, name=name, approval=True).id
    alice.wait_service(sid, "available")
    resp = alice.vpcep.list_service_details(em.ListServiceDetailsRequest(vpc_endpoint_service_id=sid))
    assert resp.status_code == 200
    body = raw_json(resp)
    assert body["id"] == sid
    assert body["service_name"] == f"{REGION}.{name}.{sid}"
    assert body["status"] == "available"
    assert body["approval_enabled"] is True
    assert body["enable_policy"] is False
    assert body["server_type"] == "VM"
    assert body["service_type"] == "interface"
    assert body["vpc_id"] == vpc_id and body["port_id"] == port_id
    assert body["project_id"] == alice.project_id
    assert body["ports"] == [{"client_port": 80, "server_port": 8080, "protocol": "TCP"}]
    assert type(body["ports"][0]["client_port"]) is int
    assert body["tags"] == []
    assert body.get("error", []) == []


def test_list_service_details_unknown_id(alice):
    with api_error(404, "EndPoint.0005"):
        alice.service("6b58b4b1-0b0c-4f0e-9a0b-2a2b8a6a1a11")


# ---- 9 update -----------------------------------------------------------------------------------


def test_update_endpoint_service(alice, agent):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id, approval=False).id
    alice.wait_service(sid, "available")
    new_name = uniq("u")
    body = em.UpdateEndpointServiceRequestBody(
        approval_enabled=True, service_name=new_name, description="changed", tcp_proxy="toa_open",
        ports=[P(client_port=443, server_port=8443, protocol="TCP")])
    resp = alice.vpcep.update_endpoint_service(
        em.UpdateEndpointServiceRequest(vpc_endpoint_service_id=sid, body=body))
    assert resp.status_code == 200
    j = raw_json(resp)
    assert j["id"] == sid
    assert j["approval_enabled"] is True
    assert j["service_name"] == f"{REGION}.{new_name}.{sid}"
    assert j["description"] == "changed"
    assert j["tcp_proxy"] == "toa_open"
    assert j["ports"] == [{"client_port": 443, "server_port": 8443, "protocol": "TCP"}]

    d = alice.service(sid)
    assert d.approval_enabled is True
    assert d.service_name == f"{REGION}.{new_name}.{sid}"
    assert [(p.client_port, p.server_port, p.protocol) for p in d.ports] == [(443, 8443, "TCP")]


def test_update_endpoint_service_bad_values(alice):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id

    def upd(**kw):
        return alice.vpcep.update_endpoint_service(em.UpdateEndpointServiceRequest(
            vpc_endpoint_service_id=sid, body=em.UpdateEndpointServiceRequestBody(**kw)))

    with api_error(400, "EndPoint.3043"):
        upd(ports=[P(client_port=80, server_port=70000, protocol="TCP")])
    with api_error(400, "EndPoint.3004"):
        upd(ports=[P(client_port=-1, server_port=80, protocol="TCP")])
    with api_error(400, "EndPoint.3075"):
        upd(ports=[P(client_port=80, server_port=80, protocol="ICMP")])
    with api_error(400, "EndPoint.3076"):
        upd(service_name="x" * 17)


# ---- 13 rename ----------------------------------------------------------------------------------


def test_update_endpoint_service_name(alice):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    new = uniq("n")
    resp = alice.vpcep.update_endpoint_service_name(em.UpdateEndpointServiceNameRequest(
        vpc_endpoint_service_id=sid, body=em.UpdateEndpointServiceNameRequestBody(endpoint_service_name=new)))
    assert resp.status_code == 200
    # the response echoes the name; accept the short or the stored full form
    assert resp.endpoint_service_name in (new, f"{REGION}.{new}.{sid}")
    assert alice.service(sid).service_name == f"{REGION}.{new}.{sid}"

    with api_error(400, "EndPoint.3076"):
        alice.vpcep.update_endpoint_service_name(em.UpdateEndpointServiceNameRequest(
            vpc_endpoint_service_id=sid, body=em.UpdateEndpointServiceNameRequestBody(endpoint_service_name="no/slash")))


# ---- 3 list -------------------------------------------------------------------------------------


def test_list_endpoint_service(alice, bob, agent):
    tok = uniq("", 6)
    vpc_id, port_id = alice.vm_backend()
    ids = []
    for i in range(3):
        r = alice.create_service(vpc_id, port_id, name=f"L{i}{tok}x",
                                 ports=[P(client_port=80, server_port=7000 + i, protocol="TCP")])
        ids.append(r.id)
    for sid in ids:
        alice.wait_service(sid, "available")

    def lst(**kw):
        return alice.vpcep.list_endpoint_service(em.ListEndpointServiceRequest(**kw))

    resp = lst(endpoint_service_name=tok)  # substring of the name
    assert resp.status_code == 200
    body = raw_json(resp)
    assert body["total_count"] == 3
    assert sorted(s["id"] for s in body["endpoint_services"]) == sorted(ids)
    for s in body["endpoint_services"]:
        assert s["domain_id"] == alice.domain_id
        assert type(s["connection_count"]) is int and s["connection_count"] == 0
        assert s["status"] == "available"
        assert s["approval_enabled"] is False

    page = raw_json(lst(endpoint_service_name=tok, limit=2))
    assert page["total_count"] == 3 and len(page["endpoint_services"]) == 2
    page2 = raw_json(lst(endpoint_service_name=tok, limit=2, offset=2))
    assert page2["total_count"] == 3 and len(page2["endpoint_services"]) == 1
    assert {s["id"] for s in page["endpoint_services"] + page2["endpoint_services"]} == set(ids)
    beyond = raw_json(lst(endpoint_service_name=tok, offset=10))
    assert beyond["total_count"] == 3 and beyond["endpoint_services"] == []

    asc = raw_json(lst(endpoint_service_name=tok, sort_key="create_at", sort_dir="asc"))["endpoint_services"]
    desc = raw_json(lst(endpoint_service_name=tok, sort_key="create_at", sort_dir="desc"))["endpoint_services"]
    assert [s["created_at"] for s in asc] == sorted(s["created_at"] for s in asc)
    assert [s["created_at"] for s in desc] == sorted((s["created_at"] for s in desc), reverse=True)
    raw_json(lst(endpoint_service_name=tok, sort_key="update_at"))

    one = raw_json(lst(id=ids[1]))
    assert one["total_count"] == 1 and one["endpoint_services"][0]["id"] == ids[1]
    assert raw_json(lst(endpoint_service_name=tok, status="available"))["total_count"] == 3
    assert raw_json(lst(endpoint_service_name=tok, status="creating"))["total_count"] == 0
    assert raw_json(lst(endpoint_service_name=f"L1{tok}"))["total_count"] == 1

    # another tenant does not see alice's services
    other = raw_json(bob.vpcep.list_endpoint_service(em.ListEndpointServiceRequest(endpoint_service_name=tok)))
    assert other == {"endpoint_services": [], "total_count": 0}


@pytest.mark.parametrize("kw,code", [
    ({"limit": 1001}, "EndPoint.0006"),
    ({"limit": -1}, "EndPoint.0006"),
    ({"offset": -1}, "EndPoint.0010"),
    ({"sort_key": "name"}, "EndPoint.0017"),
    ({"sort_dir": "up"}, "EndPoint.0018"),
    ({"status": "bogus"}, "EndPoint.0019"),
])
def test_list_endpoint_service_bad_query(alice, kw, code):
    with api_error(400, code):
        alice.vpcep.list_endpoint_service(em.ListEndpointServiceRequest(**kw))


def test_list_endpoint_service_limit_1000_ok(alice):
    resp = alice.vpcep.list_endpoint_service(em.ListEndpointServiceRequest(limit=1000, offset=0))
    assert type(raw_json(resp)["total_count"]) is int


# ---- 7 delete -----------------------------------------------------------------------------------


def test_delete_endpoint_service(alice, agent_api):
    """Without a running agent: create -> (manual apply) available -> delete -> deleting -> removed -> 404."""
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    assert alice.service(sid).status == "creating"
    agent_api.report_one("endpoint_service", sid, "applied")
    assert alice.service(sid).status == "available"

    resp = alice.vpcep.delete_endpoint_service(em.DeleteEndpointServiceRequest(vpc_endpoint_service_id=sid))
    assert resp.status_code == 204
    assert alice.service(sid).status == "deleting"
    listed = alice.vpcep.list_endpoint_service(em.ListEndpointServiceRequest(id=sid))
    assert [s.status for s in listed.endpoint_services] == ["deleting"]

    agent_api.report_one("endpoint_service", sid, "removed")
    with api_error(404, "EndPoint.0005"):
        alice.service(sid)
    assert alice.vpcep.list_endpoint_service(em.ListEndpointServiceRequest(id=sid)).total_count == 0


def test_delete_endpoint_service_with_agent(alice, agent):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    alice.wait_service(sid, "available")
    alice.vpcep.delete_endpoint_service(em.DeleteEndpointServiceRequest(vpc_endpoint_service_id=sid))
    e = alice.wait_service_gone(sid)
    assert e.error_code == "EndPoint.0005"


def test_service_failed_report(alice, agent_api):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    agent_api.report_one("endpoint_service", sid, "failed", error_code="EndPoint.3001",
                         error_message="backend unreachable")
    d = raw_json(alice.service(sid))
    assert d["status"] == "failed"
    assert d["error"] == [{"code": "EndPoint.3001", "message": "backend unreachable"}]


def test_stale_generation_report_ignored(alice, agent_api):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    gen = agent_api.object("endpoint_service", sid)["generation"]
    r = agent_api.report([{"kind": "endpoint_service", "id": sid, "generation": gen + 5, "outcome": "applied"}])
    assert 200 <= r.status < 300 or r.status in (400, 409)
    assert alice.service(sid).status == "creating"



# ---- backend checks -----------------------------------------------------------------------------


def test_create_endpoint_service_backend_checks(alice, bob):
    vpc, sub = alice.network()
    port_id = alice.server(vpc.id, sub.id)["nics"][0]["port_id"]
    other_vpc, _ = alice.network()
    with api_error(400, "EndPoint.3042"):  # the port is not in the given VPC
        alice.create_service(other_vpc.id, port_id)
    with api_error(400, "EndPoint.3021"):
        alice.create_service(vpc.id, port_id, server_type="XX")
    with api_error(400, "EndPoint.3008"):  # unknown port
        alice.create_service(vpc.id, "6b58b4b1-0b0c-4f0e-9a0b-2a2b8a6a1a11")
    bob_vpc, _ = bob.network()
    with api_error(400, "EndPoint.3008"):  # another tenant's port does not exist for bob
        bob.create_service(bob_vpc.id, port_id)


def test_update_endpoint_service_port_rules(alice):
    vpc_id, port_id = alice.vm_backend()
    alice.create_service(vpc_id, port_id, ports=[P(client_port=80, server_port=8080, protocol="TCP")])
    sid = alice.create_service(vpc_id, port_id, ports=[P(client_port=81, server_port=8081, protocol="TCP")]).id

    def upd(ports):
        return alice.vpcep.update_endpoint_service(em.UpdateEndpointServiceRequest(
            vpc_endpoint_service_id=sid, body=em.UpdateEndpointServiceRequestBody(ports=ports)))

    with api_error(400, "EndPoint.3044"):  # used by the other service on the same backend port
        upd([P(client_port=82, server_port=8080, protocol="TCP")])
    with api_error(400, "EndPoint.3044"):  # duplicated within the request
        upd([P(client_port=82, server_port=8082, protocol="TCP"), P(client_port=82, server_port=8082, protocol="TCP")])
    with api_error(400, "EndPoint.3074"):
        upd([P(client_port=1000 + i, server_port=2000 + i, protocol="TCP") for i in range(201)])
    # keeping its own mapping is not a conflict with itself
    j = raw_json(upd([P(client_port=81, server_port=8081, protocol="TCP"), P(client_port=83, server_port=8083, protocol="UDP")]))
    assert j["ports"] == [{"client_port": 81, "server_port": 8081, "protocol": "TCP"},
                          {"client_port": 83, "server_port": 8083, "protocol": "UDP"}]


def test_approval_toggle_applies_to_new_connections(alice, agent):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id, approval=False).id
    alice.wait_service(sid, "available")
    vpc, sub = alice.network()
    assert alice.create_endpoint(sid, vpc.id, sub.id).status == "creating"
    alice.vpcep.update_endpoint_service(em.UpdateEndpointServiceRequest(
        vpc_endpoint_service_id=sid, body=em.UpdateEndpointServiceRequestBody(approval_enabled=True)))
    assert alice.create_endpoint(sid, vpc.id, sub.id).status == "pendingAcceptance"


def test_service_not_available_refuses_endpoints(alice, agent_api):
    vpc, sub = alice.network()
    port_id = alice.server(vpc.id, sub.id)["nics"][0]["port_id"]
    failed = alice.create_service(vpc.id, port_id, ports=[P(client_port=1, server_port=1, protocol="TCP")]).id
    agent_api.report_one("endpoint_service", failed, "failed", error_code="EndPoint.3001", error_message="x")
    with api_error(400, "EndPoint.2004"):
        alice.create_endpoint(failed, vpc.id, sub.id)
    deleting = alice.create_service(vpc.id, port_id, ports=[P(client_port=2, server_port=2, protocol="TCP")]).id
    agent_api.report_one("endpoint_service", deleting, "applied")
    alice.vpcep.delete_endpoint_service(em.DeleteEndpointServiceRequest(vpc_endpoint_service_id=deleting))
    with api_error(400, "EndPoint.2004"):
        alice.create_endpoint(deleting, vpc.id, sub.id)


def test_agent_reports_only_act_on_matching_state(alice, agent_api):
    """`applied` on a `deleting` service and `removed` on a `creating` one are ignored."""
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    gen = agent_api.object("endpoint_service", sid)["generation"]
    r = agent_api.report([{"kind": "endpoint_service", "id": sid, "generation": gen, "outcome": "removed"}])
    assert 200 <= r.status < 300
    assert alice.service(sid).status == "creating"

    agent_api.report_one("endpoint_service", sid, "applied")
    alice.vpcep.delete_endpoint_service(em.DeleteEndpointServiceRequest(vpc_endpoint_service_id=sid))
    gen = agent_api.object("endpoint_service", sid)["generation"]
    r = agent_api.report([{"kind": "endpoint_service", "id": sid, "generation": gen, "outcome": "applied"}])
    assert 200 <= r.status < 300
    assert alice.service(sid).status == "deleting"


def test_delete_failed_service(alice, agent_api):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    agent_api.report_one("endpoint_service", sid, "failed", error_code="EndPoint.3001", error_message="x")
    assert alice.vpcep.delete_endpoint_service(
        em.DeleteEndpointServiceRequest(vpc_endpoint_service_id=sid)).status_code == 204
    assert alice.service(sid).status == "deleting"
    agent_api.report_one("endpoint_service", sid, "removed")
    with api_error(404, "EndPoint.0005"):
        alice.service(sid)
