"""Operations 1, 2 and 33 (version discovery, quotas) and quota enforcement."""

from huaweicloudsdkvpcep.v1 import model as em

from support import api_error, raw_json


def _check_version_object(v: dict, port: int):
    assert v["id"] == "v1"
    assert v["status"] == "CURRENT"
    assert v["version"] == "1"
    assert v["min_version"] == ""
    assert v["updated"] == "2018-09-30T00:00:00Z"
    assert isinstance(v["links"], list) and len(v["links"]) == 1
    link = v["links"][0]
    assert link["rel"] == "self"
    assert link["type"] == "application/json"
    assert link["href"].endswith("/v1")


def test_list_version_details(alice, server):
    resp = alice.vpcep.list_version_details(em.ListVersionDetailsRequest())
    assert resp.status_code == 200
    body = raw_json(resp)
    assert isinstance(body["versions"], list) and len(body["versions"]) == 1
    _check_version_object(body["versions"][0], server.port)
    assert resp.versions[0].id == "v1"


def test_list_specified_version_details(alice, server):
    resp = alice.vpcep.list_specified_version_details(em.ListSpecifiedVersionDetailsRequest(version="v1"))
    assert resp.status_code == 200
    _check_version_object(raw_json(resp)["version"], server.port)
    assert resp.version.status == "CURRENT"


def _quota_map(resp) -> dict:
    body = raw_json(resp)
    out = {}
    for r in body["quotas"]["resources"]:
        assert type(r["used"]) is int and type(r["quota"]) is int, r
        out[r["type"]] = (r["used"], r["quota"])
    return out


def test_list_quota_details(erin, agent):
    """erin's quotas were set to 7 services / 9 endpoints before the server started."""
    resp = erin.vpcep.list_quota_details(em.ListQuotaDetailsRequest())
    assert resp.status_code == 200
    assert _quota_map(resp) == {"endpoint_service": (0, 7), "endpoint": (0, 9)}

    svc = erin.available_service()
    vpc, sub = erin.network("10.30.0.0/16", "10.30.1.0/24")
    erin.create_endpoint(svc.id, vpc.id, sub.id)

    resp = erin.vpcep.list_quota_details(em.ListQuotaDetailsRequest())
    assert _quota_map(resp) == {"endpoint_service": (1, 7), "endpoint": (1, 9)}

    only = erin.vpcep.list_quota_details(em.ListQuotaDetailsRequest(type="endpoint"))
    assert _quota_map(only) == {"endpoint": (1, 9)}
    only = erin.vpcep.list_quota_details(em.ListQuotaDetailsRequest(type="endpoint_service"))
    assert _quota_map(only) == {"endpoint_service": (1, 7)}


def test_quota_exceeded(dave, agent):
    """dave may own 1 service and 1 endpoint; the second of each is refused with Endpoint.1018."""
    vpc_id, port_id = dave.vm_backend()
    first = dave.create_service(vpc_id, port_id)
    dave.wait_service(first.id, "available")
    with api_error(400, "Endpoint.1018"):
        dave.create_service(vpc_id, port_id, ports=[em.PortList(client_port=81, server_port=8081, protocol="TCP")])

    vpc, sub = dave.network("10.31.0.0/16", "10.31.1.0/24")
    dave.create_endpoint(first.id, vpc.id, sub.id)
    with api_error(400, "Endpoint.1018"):
        dave.create_endpoint(first.id, vpc.id, sub.id)

    q = _quota_map(dave.vpcep.list_quota_details(em.ListQuotaDetailsRequest()))
    assert q == {"endpoint_service": (1, 1), "endpoint": (1, 1)}

    # a removed endpoint frees its quota
    eid = dave.vpcep.list_endpoints(em.ListEndpointsRequest()).endpoints[0].id
    dave.vpcep.delete_endpoint(em.DeleteEndpointRequest(vpc_endpoint_id=eid))
    dave.wait_endpoint_gone(eid)
    assert _quota_map(dave.vpcep.list_quota_details(em.ListQuotaDetailsRequest(type="endpoint"))) == {"endpoint": (0, 1)}
    dave.create_endpoint(first.id, vpc.id, sub.id)
