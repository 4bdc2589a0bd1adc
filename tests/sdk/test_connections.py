"""Connections seen by the service owner: operations 10, 11, 12 and the approval flow."""

from huaweicloudsdkvpcep.v1 import model as em

from support import api_error, raw_json


def _setup(alice, bob, approval=True):
    svc = alice.available_service(approval=approval)
    alice.permit(svc.id, f"iam:domain::{bob.domain_id}")
    vpc, sub = bob.network()
    return svc, vpc, sub


def _action(alice, sid, action, endpoints):
    return alice.vpcep.accept_or_reject_endpoint(em.AcceptOrRejectEndpointRequest(
        vpc_endpoint_service_id=sid, body=em.AcceptOrRejectEndpointRequestBody(action=action, endpoints=endpoints)))


def _conns(alice, sid, **kw):
    return alice.vpcep.list_service_connections(em.ListServiceConnectionsRequest(vpc_endpoint_service_id=sid, **kw))


def test_list_service_connections(alice, bob, agent):
    svc, vpc, sub = _setup(alice, bob)
    e1 = bob.create_endpoint(svc.id, vpc.id, sub.id, description="first")
    e2 = bob.create_endpoint(svc.id, vpc.id, sub.id)

    resp = _conns(alice, svc.id)
    assert resp.status_code == 200
    j = raw_json(resp)
    assert j["total_count"] == 2
    assert sorted(c["id"] for c in j["connections"]) == sorted([e1.id, e2.id])
    for c in j["connections"]:
        assert c["status"] == "pendingAcceptance"
        assert c["domain_id"] == bob.domain_id
        assert type(c["marker_id"]) is int
        assert isinstance(c["created_at"], str)

    assert raw_json(_conns(alice, svc.id, id=e1.id))["total_count"] == 1
    assert raw_json(_conns(alice, svc.id, status="pendingAcceptance"))["total_count"] == 2
    assert raw_json(_conns(alice, svc.id, status="accepted"))["total_count"] == 0
    marker = raw_json(_conns(alice, svc.id, id=e1.id))["connections"][0]["marker_id"]
    by_marker = raw_json(_conns(alice, svc.id, marker_id=str(marker)))
    assert by_marker["total_count"] == 1 and by_marker["connections"][0]["id"] == e1.id
    page = raw_json(_conns(alice, svc.id, limit=1))
    assert page["total_count"] == 2 and len(page["connections"]) == 1

    with api_error(400, "EndPoint.0019"):
        _conns(alice, svc.id, status="bogus")
    with api_error(400, "EndPoint.0006"):
        _conns(alice, svc.id, limit=1001)
    with api_error(400, "EndPoint.0010"):
        _conns(alice, svc.id, offset=-1)
    with api_error(400, "EndPoint.0021"):
        _conns(alice, svc.id, marker_id="abc")
    # the consumer cannot list connections of a service it does not own
    with api_error(404, "EndPoint.0005"):
        _conns(bob, svc.id)


def test_accept_or_reject_endpoint(alice, bob, agent):
    svc, vpc, sub = _setup(alice, bob)
    e1 = bob.create_endpoint(svc.id, vpc.id, sub.id)
    e2 = bob.create_endpoint(svc.id, vpc.id, sub.id)
    assert bob.endpoint(e1.id).status == "pendingAcceptance"

    # receive -> creating (agent paused) -> accepted
    agent.pause()
    resp = _action(alice, svc.id, "receive", [e1.id])
    assert resp.status_code == 200
    conns = raw_json(resp)["connections"]
    assert len(conns) == 1 and conns[0]["id"] == e1.id
    assert conns[0]["status"] == "creating"
    assert bob.endpoint(e1.id).status == "creating"
    agent.resume()
    ep = bob.wait_endpoint(e1.id, "accepted")
    assert ep.ip and ep.ip.startswith("10.20.1.")

    # reject -> rejected
    resp = _action(alice, svc.id, "reject", [e2.id])
    assert raw_json(resp)["connections"][0]["status"] == "rejected"
    assert bob.endpoint(e2.id).status == "rejected"

    d = raw_json(alice.vpcep.list_endpoint_service(em.ListEndpointServiceRequest(id=svc.id)))
    assert d["endpoint_services"][0]["connection_count"] == 1
    assert raw_json(_conns(alice, svc.id, status="accepted"))["total_count"] == 1
    assert raw_json(_conns(alice, svc.id, status="rejected"))["total_count"] == 1


def test_accept_or_reject_endpoint_errors(alice, bob, agent):
    svc, vpc, sub = _setup(alice, bob)
    e1 = bob.create_endpoint(svc.id, vpc.id, sub.id)
    e2 = bob.create_endpoint(svc.id, vpc.id, sub.id)
    with api_error(400, "EndPoint.2031"):
        _action(alice, svc.id, "receive", [e1.id, e2.id])
    with api_error(400, "EndPoint.2027"):
        _action(alice, svc.id, "accept", [e1.id])
    assert bob.endpoint(e1.id).status == "pendingAcceptance"


def test_update_endpoint_connections_desc(alice, bob, agent):
    svc, vpc, sub = _setup(alice, bob)
    e1 = bob.create_endpoint(svc.id, vpc.id, sub.id)
    resp = alice.vpcep.update_endpoint_connections_desc(em.UpdateEndpointConnectionsDescRequest(
        vpc_endpoint_service_id=svc.id, body=em.UpdateEndpointConnectionsDescRequestBody(
            connections=[em.ConnectionsDesc(id=e1.id, description="bob's analytics")])))
    assert resp.status_code == 200
    conns = raw_json(resp)["connections"]
    assert len(conns) == 1
    assert conns[0]["id"] == e1.id
    assert conns[0]["description"] == "bob's analytics"
    listed = raw_json(_conns(alice, svc.id, id=e1.id))["connections"][0]
    assert listed["description"] == "bob's analytics"


def test_approval_disabled_goes_straight_to_creating(alice, bob, agent):
    svc, vpc, sub = _setup(alice, bob, approval=False)
    agent.pause()
    ep = bob.create_endpoint(svc.id, vpc.id, sub.id)
    assert ep.status == "creating"
    j = raw_json(alice.vpcep.list_endpoint_service(em.ListEndpointServiceRequest(id=svc.id)))
    assert j["endpoint_services"][0]["connection_count"] == 1  # creating counts
    agent.resume()
    bob.wait_endpoint(ep.id, "accepted")
