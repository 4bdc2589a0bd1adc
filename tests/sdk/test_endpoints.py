"""Endpoints: operations 19-26 and the endpoint lifecycle driven by the test agent."""

import uuid

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkvpcep.v1 import model as em

from support import REGION, api_error, raw_json, uniq, usable_host


def _service_for(alice, bob, approval=False, **kw):
    svc = alice.available_service(approval=approval, **kw)
    alice.permit(svc.id, f"iam:domain::{bob.domain_id}")
    return svc


# ---- 20 create ----------------------------------------------------------------------------------


def test_create_endpoint(alice, bob, agent):
    name = uniq("ce")
    svc = _service_for(alice, bob, name=name)
    vpc, sub = bob.network("10.20.0.0/16", "10.20.1.0/24")  # same CIDR as the backend: fine
    agent.pause()
    resp = bob.create_endpoint(svc.id, vpc.id, sub.id, enable_dns=True, description="to alice",
                               tags=[em.TagList(key="team", value="data")])
    assert resp.status_code == 200
    j = raw_json(resp)
    eid = j["id"]
    assert j["status"] == "creating"
    assert j["service_type"] == "interface"
    assert j["endpoint_service_id"] == svc.id
    assert j["endpoint_service_name"] == f"{REGION}.{name}.{svc.id}"
    assert j["vpc_id"] == vpc.id and j["subnet_id"] == sub.id
    assert j["project_id"] == bob.project_id
    assert j["enable_dns"] is True
    assert j["enable_whitelist"] is False
    assert j["whitelist"] == []
    assert type(j["marker_id"]) is int
    assert j["description"] == "to alice"
    assert j["tags"] == [{"key": "team", "value": "data"}]
    agent.resume()

    d = raw_json(bob.wait_endpoint(eid, "accepted"))
    assert usable_host(d["ip"], sub.cidr, sub.gateway_ip), d["ip"]
    assert isinstance(d["dns_names"], list) and len(d["dns_names"]) == 1
    assert isinstance(d["dns_names"][0], str) and d["dns_names"][0]
    assert d["enable_dns"] is True
    assert d.get("error", []) == []


def test_create_endpoint_without_dns(alice, agent):
    svc = alice.available_service()
    vpc, sub = alice.network()
    ep = alice.create_endpoint(svc.id, vpc.id, sub.id, enable_dns=False)
    d = raw_json(alice.wait_endpoint(ep.id, "accepted"))
    assert d["enable_dns"] is False
    assert d.get("dns_names") in (None, [])


def test_create_endpoint_port_ip(alice, agent):
    svc = alice.available_service()
    vpc, sub = alice.network("10.40.0.0/16", "10.40.1.0/24")
    ep = alice.create_endpoint(svc.id, vpc.id, sub.id, port_ip="10.40.1.50")
    assert alice.wait_endpoint(ep.id, "accepted").ip == "10.40.1.50"
    with api_error(400, "EndPoint.2042"):
        alice.create_endpoint(svc.id, vpc.id, sub.id, port_ip="10.40.1.50")
    with api_error(400, "EndPoint.2043"):
        alice.create_endpoint(svc.id, vpc.id, sub.id, port_ip="10.41.1.50")
    # the endpoint IPs are distinct addresses of the subnet
    other = alice.wait_endpoint(alice.create_endpoint(svc.id, vpc.id, sub.id).id, "accepted")
    assert usable_host(other.ip, sub.cidr, sub.gateway_ip) and other.ip != "10.40.1.50"


def test_create_endpoint_ip_taken_by_server(alice, agent):
    svc = alice.available_service()
    vpc, sub = alice.network("10.42.0.0/16", "10.42.1.0/24")
    srv = alice.server(vpc.id, sub.id, ip="10.42.1.77")
    assert srv["nics"][0]["ip_address"] == "10.42.1.77"
    with api_error(400, "EndPoint.2042"):
        alice.create_endpoint(svc.id, vpc.id, sub.id, port_ip="10.42.1.77")


def test_create_endpoint_network_checks(alice, bob, agent):
    svc = alice.available_service()
    alice.permit(svc.id, "*")
    vpc, sub = alice.network()
    vpc2, _ = alice.network()
    with api_error(400, "EndPoint.2037"):  # subnet of another VPC
        alice.create_endpoint(svc.id, vpc2.id, sub.id)
    bvpc, _ = bob.network()
    with api_error(400, "EndPoint.0023"):  # another tenant's subnet
        bob.create_endpoint(svc.id, bvpc.id, sub.id)
    with api_error(400, "EndPoint.2001"):  # another tenant's VPC
        bob.create_endpoint(svc.id, vpc.id, sub.id)


def test_create_endpoint_unknown_service(alice):
    vpc, sub = alice.network()
    try:
        alice.create_endpoint(str(uuid.uuid4()), vpc.id, sub.id)
        raise AssertionError("endpoint to an unknown service was created")
    except ClientRequestException as e:
        # documented candidates: 400 EndPoint.2003 "The endpoint service does not exist." or 404 EndPoint.0005
        assert (e.status_code, e.error_code) in ((400, "EndPoint.2003"), (404, "EndPoint.0005")), \
            (e.status_code, e.error_code, e.error_msg)


# ---- 19 list ------------------------------------------------------------------------------------


def test_list_endpoints(alice, bob, agent):
    name = uniq("le")
    svc = _service_for(alice, bob, name=name)
    vpc, sub = bob.network()
    vpc2, sub2 = bob.network()
    e1 = bob.create_endpoint(svc.id, vpc.id, sub.id).id
    e2 = bob.create_endpoint(svc.id, vpc.id, sub.id).id
    e3 = bob.create_endpoint(svc.id, vpc2.id, sub2.id).id

    def lst(**kw):
        return bob.vpcep.list_endpoints(em.ListEndpointsRequest(**kw))

    resp = lst(endpoint_service_name=name)
    assert resp.status_code == 200
    j = raw_json(resp)
    assert j["total_count"] == 3
    assert sorted(e["id"] for e in j["endpoints"]) == sorted([e1, e2, e3])
    for e in j["endpoints"]:
        assert e["endpoint_service_id"] == svc.id
        assert type(e["enable_dns"]) is bool and type(e["marker_id"]) is int

    assert raw_json(lst(vpc_id=vpc.id))["total_count"] == 2
    assert raw_json(lst(vpc_id=vpc2.id))["total_count"] == 1
    one = raw_json(lst(id=e2))
    assert one["total_count"] == 1 and one["endpoints"][0]["id"] == e2
    page = raw_json(lst(endpoint_service_name=name, limit=2, offset=0))
    assert page["total_count"] == 3 and len(page["endpoints"]) == 2
    page = raw_json(lst(endpoint_service_name=name, limit=2, offset=2))
    assert page["total_count"] == 3 and len(page["endpoints"]) == 1
    asc = raw_json(lst(endpoint_service_name=name, sort_key="create_at", sort_dir="asc"))["endpoints"]
    assert [e["created_at"] for e in asc] == sorted(e["created_at"] for e in asc)
    # the service owner does not see bob's endpoints in its own endpoint list
    assert raw_json(alice.vpcep.list_endpoints(em.ListEndpointsRequest(endpoint_service_name=name)))["total_count"] == 0


@pytest.mark.parametrize("kw,code", [
    ({"limit": 1001}, "EndPoint.0006"),
    ({"offset": -1}, "EndPoint.0010"),
    ({"sort_key": "name"}, "EndPoint.0017"),
    ({"sort_dir": "sideways"}, "EndPoint.0018"),
])
def test_list_endpoints_bad_query(alice, kw, code):
    with api_error(400, code):
        alice.vpcep.list_endpoints(em.ListEndpointsRequest(**kw))


# ---- 22 detail ----------------------------------------------------------------------------------


def test_list_endpoint_info_details(alice, bob, agent):
    svc = _service_for(alice, bob)
    vpc, sub = bob.network()
    eid = bob.create_endpoint(svc.id, vpc.id, sub.id).id
    bob.wait_endpoint(eid, "accepted")
    resp = bob.vpcep.list_endpoint_info_details(em.ListEndpointInfoDetailsRequest(vpc_endpoint_id=eid))
    assert resp.status_code == 200
    j = raw_json(resp)
    assert j["id"] == eid
    assert j["status"] == "accepted"
    assert j["service_type"] == "interface"
    assert j["endpoint_service_id"] == svc.id
    assert j["endpoint_service_name"] == svc.service_name
    assert j["vpc_id"] == vpc.id and j["subnet_id"] == sub.id
    assert j["project_id"] == bob.project_id
    assert j["enable_dns"] is False
    assert j["enable_whitelist"] is False and j["whitelist"] == []
    assert usable_host(j["ip"], sub.cidr, sub.gateway_ip)
    assert type(j["marker_id"]) is int
    assert j["active_status"] == ["active"]
    assert j["enable_status"] == "enable"
    assert j["specification_name"] == "default"


def test_list_endpoint_info_details_unknown(alice):
    with api_error(404, "EndPoint.2006"):
        alice.endpoint(str(uuid.uuid4()))


# ---- 23 whitelist -------------------------------------------------------------------------------


def test_update_endpoint_white(alice, agent):
    svc = alice.available_service()
    vpc, sub = alice.network()
    eid = alice.create_endpoint(svc.id, vpc.id, sub.id).id
    alice.wait_endpoint(eid, "accepted")

    def put(**kw):
        return alice.vpcep.update_endpoint_white(em.UpdateEndpointWhiteRequest(
            vpc_endpoint_id=eid, body=em.UpdateEndpointWhiteRequestBody(**kw)))

    resp = put(whitelist=["10.0.0.0/24", "192.168.1.1"], enable_whitelist=True)
    assert resp.status_code == 200
    j = raw_json(resp)
    assert j["id"] == eid
    assert j["whitelist"] == ["10.0.0.0/24", "192.168.1.1"]
    assert j["enable_whitelist"] is True
    d = raw_json(alice.endpoint(eid))
    assert d["whitelist"] == ["10.0.0.0/24", "192.168.1.1"] and d["enable_whitelist"] is True

    # a non-empty list replaces the whitelist
    j = raw_json(put(whitelist=["172.16.0.0/12"], enable_whitelist=True))
    assert j["whitelist"] == ["172.16.0.0/12"]

    for bad in (["10.0.0.0/33"], ["300.1.1.1"], ["not-an-ip"]):
        with api_error(400, "EndPoint.2044"):
            put(whitelist=bad, enable_whitelist=True)
    assert raw_json(alice.endpoint(eid))["whitelist"] == ["172.16.0.0/12"]

    # an empty list deletes all entries
    j = raw_json(put(whitelist=[], enable_whitelist=False))
    assert j["whitelist"] == [] and j["enable_whitelist"] is False


# ---- 25 / 24 policy -----------------------------------------------------------------------------


def test_update_endpoint_policy(alice, agent):
    svc = alice.available_service()
    vpc, sub = alice.network()
    eid = alice.create_endpoint(svc.id, vpc.id, sub.id).id
    doc = {"Version": "5.0", "Statement": [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}]}
    stmt = em.PolicyStatement(effect="Allow", action=["obs:object:GetObject"], resource=["obs:*:*:object:bkt/*"])
    resp = alice.vpcep.update_endpoint_policy(em.UpdateEndpointPolicyRequest(
        vpc_endpoint_id=eid, body=em.UpdateEndpointPolicyRequestBody(policy_statement=[stmt], policy_document=doc)))
    assert resp.status_code == 200
    j = raw_json(resp)
    assert j["id"] == eid
    assert j["policy_document"] == doc
    assert j["policy_statement"] == [{"Effect": "Allow", "Action": ["obs:object:GetObject"],
                                      "Resource": ["obs:*:*:object:bkt/*"]}]
    d = raw_json(alice.endpoint(eid))
    assert d["policy_document"] == doc

    bad = em.PolicyStatement(effect="Maybe", action=["*"], resource=["*"])
    with api_error(400, "EndPoint.2048"):
        alice.vpcep.update_endpoint_policy(em.UpdateEndpointPolicyRequest(
            vpc_endpoint_id=eid, body=em.UpdateEndpointPolicyRequestBody(policy_statement=[bad])))


def test_delete_endpoint_policy(alice, agent):
    svc = alice.available_service()
    vpc, sub = alice.network()
    eid = alice.create_endpoint(svc.id, vpc.id, sub.id).id
    doc = {"Version": "5.0", "Statement": [{"Effect": "Deny", "Action": ["*"], "Resource": ["*"]}]}
    alice.vpcep.update_endpoint_policy(em.UpdateEndpointPolicyRequest(
        vpc_endpoint_id=eid, body=em.UpdateEndpointPolicyRequestBody(policy_document=doc)))
    resp = alice.vpcep.delete_endpoint_policy(em.DeleteEndpointPolicyRequest(vpc_endpoint_id=eid))
    assert resp.status_code == 200
    j = raw_json(resp)
    assert j["id"] == eid
    assert j.get("policy_document") in (None, {})
    assert j.get("policy_statement") in (None, [])
    with api_error(400, "EndPoint.2049"):
        alice.vpcep.delete_endpoint_policy(em.DeleteEndpointPolicyRequest(vpc_endpoint_id=eid))


# ---- 26 route tables ----------------------------------------------------------------------------


def test_update_endpoint_routetable(alice, agent):
    svc = alice.available_service()
    vpc, sub = alice.network()
    eid = alice.create_endpoint(svc.id, vpc.id, sub.id).id
    rt = str(uuid.uuid4())
    resp = alice.vpcep.update_endpoint_routetable(em.UpdateEndpointRoutetableRequest(
        vpc_endpoint_id=eid, body=em.UpdateEndpointRoutetableRequestBody(routetables=[rt])))
    assert resp.status_code == 200
    assert raw_json(resp)["routetables"] == [rt]
    assert raw_json(alice.endpoint(eid))["routetables"] == [rt]
    with api_error(400, "EndPoint.1019"):
        alice.vpcep.update_endpoint_routetable(em.UpdateEndpointRoutetableRequest(
            vpc_endpoint_id=eid, body=em.UpdateEndpointRoutetableRequestBody(routetables=["rt-1"])))


# ---- 21 delete ----------------------------------------------------------------------------------


def test_delete_endpoint(alice, bob, agent):
    svc = _service_for(alice, bob)
    vpc, sub = bob.network()
    eid = bob.create_endpoint(svc.id, vpc.id, sub.id).id
    bob.wait_endpoint(eid, "accepted")
    agent.pause()
    resp = bob.vpcep.delete_endpoint(em.DeleteEndpointRequest(vpc_endpoint_id=eid))
    assert resp.status_code == 204
    assert bob.endpoint(eid).status == "deleting"
    agent.resume()
    e = bob.wait_endpoint_gone(eid)
    assert e.error_code == "EndPoint.2006"
    assert raw_json(bob.vpcep.list_endpoints(em.ListEndpointsRequest(id=eid)))["total_count"] == 0
    # the connection is gone on the owner side too, and the service can now be deleted
    assert raw_json(alice.vpcep.list_service_connections(
        em.ListServiceConnectionsRequest(vpc_endpoint_service_id=svc.id)))["total_count"] == 0
    assert alice.vpcep.delete_endpoint_service(
        em.DeleteEndpointServiceRequest(vpc_endpoint_service_id=svc.id)).status_code == 204
    alice.wait_service_gone(svc.id)


def test_delete_service_in_use(alice, bob, agent):
    svc = _service_for(alice, bob, approval=True)
    vpc, sub = bob.network()
    pending = bob.create_endpoint(svc.id, vpc.id, sub.id).id
    with api_error(400, "EndPoint.3006"):
        alice.vpcep.delete_endpoint_service(em.DeleteEndpointServiceRequest(vpc_endpoint_service_id=svc.id))
    alice.vpcep.accept_or_reject_endpoint(em.AcceptOrRejectEndpointRequest(
        vpc_endpoint_service_id=svc.id, body=em.AcceptOrRejectEndpointRequestBody(action="receive",
                                                                                  endpoints=[pending])))
    bob.wait_endpoint(pending, "accepted")
    with api_error(400, "EndPoint.3006"):
        alice.vpcep.delete_endpoint_service(em.DeleteEndpointServiceRequest(vpc_endpoint_service_id=svc.id))
    assert alice.service(svc.id).status == "available"


# ---- agent-reported failure -----------------------------------------------------------------------


def test_endpoint_failed_report(alice, bob, agent):
    svc = _service_for(alice, bob)
    vpc, sub = bob.network()
    agent.pause()
    eid = bob.create_endpoint(svc.id, vpc.id, sub.id).id
    agent.fail[eid] = ("EndPoint.2022", "Failed to create an endpoint.")
    agent.resume()
    d = raw_json(bob.wait_endpoint(eid, "failed"))
    assert d["error"] == [{"error_code": "EndPoint.2022", "error_message": "Failed to create an endpoint."}]
    conn = raw_json(alice.vpcep.list_service_connections(
        em.ListServiceConnectionsRequest(vpc_endpoint_service_id=svc.id, id=eid)))["connections"][0]
    assert conn["status"] == "failed"
    # a failed endpoint can still be deleted
    bob.vpcep.delete_endpoint(em.DeleteEndpointRequest(vpc_endpoint_id=eid))
    bob.wait_endpoint_gone(eid)
