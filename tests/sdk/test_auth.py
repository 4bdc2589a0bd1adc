"""Authentication, tenant isolation and the error envelope."""

import uuid

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkvpc.v2 import model as vm
from huaweicloudsdkvpcep.v1 import model as em

from support import api_error, raw_json


def test_raw_signer_matches_reference_vectors():
    """The suite's own SDK-HMAC-SHA256 signer reproduces reference §7.2 (vectors A and B)."""
    from support import sign_headers
    pid = "0123456789abcdef0123456789abcdef"
    base = {"Content-Type": "application/json", "X-Project-Id": pid}
    a = sign_headers("FAKEAK0123456789", "FAKESKabcdefghijklmnopqrstuvwxyz", "GET", "127.0.0.1:9000",
                     f"/v1/{pid}/vpc-endpoint-services", [("limit", "10"), ("offset", "0")], base, b"",
                     date="20240101T120000Z")
    assert a["Authorization"] == ("SDK-HMAC-SHA256 Access=FAKEAK0123456789, "
                                  "SignedHeaders=content-type;host;x-project-id;x-sdk-date, "
                                  "Signature=13a44f372bb3a6ba4702c5724a1f57134bf529d511edff86a747adaca3aa95d0")
    body = b'{"action": "receive", "endpoints": ["705290f3-0d00-41f2-aedc-71f09844e879"]}'
    b = sign_headers("FAKEAK0123456789", "FAKESKabcdefghijklmnopqrstuvwxyz", "POST", "127.0.0.1:9000",
                     f"/v1/{pid}/vpc-endpoint-services/4189d3c2-8882-4871-a3c2-d380272eed83/connections/action",
                     [], base, body, date="20240101T120000Z")
    assert b["Authorization"].endswith(
        "Signature=b42be49c7a47383e14bc686d0f3f00b0140715a121876dee3fb5a9bd1fd5c3a9")


def test_signature_with_wrong_secret_key(alice):
    client = alice.vpcep_client(sk="WRONG" + alice.sk[5:])
    with api_error(401, "EndPoint.0003"):
        client.list_endpoint_service(em.ListEndpointServiceRequest())


def test_unknown_access_key(alice):
    client = alice.vpcep_client(ak="AKNOTKNOWN0000000000")
    with api_error(401, "EndPoint.0003"):
        client.list_quota_details(em.ListQuotaDetailsRequest())


def test_vpc_api_bad_signature(alice):
    client = alice.vpc_client(sk="x" * len(alice.sk))
    try:
        client.list_vpcs(vm.ListVpcsRequest())
        raise AssertionError("bad signature accepted")
    except ClientRequestException as e:
        assert e.status_code == 401, (e.status_code, e.error_code)
        assert e.request_id


def test_unsigned_request(alice):
    r = alice.raw("GET", "vpc-endpoint-services", unsigned=True)
    assert r.status == 401
    assert r.json["error_code"] == "EndPoint.0003"
    assert r.header("X-Request-Id")


def test_tampered_query_fails_signature(alice):
    """Sign one query, send another: the server must re-verify the query string."""
    from support import http_request, sign_headers
    path = f"/v1/{alice.project_id}/vpc-endpoint-services"
    h = sign_headers(alice.ak, alice.sk, "GET", f"127.0.0.1:{alice.port}", path, [("limit", "10")],
                     {"Content-Type": "application/json", "X-Project-Id": alice.project_id}, b"")
    r = http_request(alice.port, "GET", path, query=[("limit", "11")], headers=h)
    assert (r.status, r.error_code) == (401, "EndPoint.0003")
    ok = http_request(alice.port, "GET", path, query=[("limit", "10")], headers=h)
    assert ok.status == 200


def test_stale_sdk_date_rejected(alice):
    from support import http_request, sign_headers
    path = f"/v1/{alice.project_id}/vpc-endpoint-services"
    h = sign_headers(alice.ak, alice.sk, "GET", f"127.0.0.1:{alice.port}", path, [],
                     {"Content-Type": "application/json", "X-Project-Id": alice.project_id}, b"",
                     date="20200101T000000Z")
    r = http_request(alice.port, "GET", path, headers=h)
    assert (r.status, r.error_code) == (401, "EndPoint.0003")


def test_raw_signed_request_ok(alice):
    r = alice.raw("GET", "vpc-endpoint-services", query=[("limit", "5"), ("offset", "0")])
    assert r.status == 200
    assert type(r.json["total_count"]) is int
    assert r.header("X-Request-Id")


def test_project_id_of_another_tenant_in_path(alice, bob):
    # SDK: alice's keys with bob's project id (path and X-Project-Id)
    client = alice.vpcep_client(project_id=bob.project_id)
    with api_error(403, "EndPoint.0004"):
        client.list_endpoint_service(em.ListEndpointServiceRequest())
    # raw: alice's X-Project-Id header, bob's project in the path
    r = alice.raw("GET", f"/v1/{bob.project_id}/vpc-endpoint-services")
    assert (r.status, r.error_code) == (403, "EndPoint.0004")
    # VPC API too
    vclient = alice.vpc_client(project_id=bob.project_id)
    try:
        vclient.list_vpcs(vm.ListVpcsRequest())
        raise AssertionError("foreign project accepted")
    except ClientRequestException as e:
        assert e.status_code == 403, (e.status_code, e.error_code)


def test_other_tenant_service_is_404(alice, bob):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    with api_error(404, "EndPoint.0005"):
        bob.service(sid)
    with api_error(404, "EndPoint.0005"):
        bob.vpcep.update_endpoint_service(em.UpdateEndpointServiceRequest(
            vpc_endpoint_service_id=sid, body=em.UpdateEndpointServiceRequestBody(description="pwned")))
    with api_error(404, "EndPoint.0005"):
        bob.vpcep.delete_endpoint_service(em.DeleteEndpointServiceRequest(vpc_endpoint_service_id=sid))
    with api_error(404, "EndPoint.0005"):
        bob.vpcep.update_endpoint_service_name(em.UpdateEndpointServiceNameRequest(
            vpc_endpoint_service_id=sid, body=em.UpdateEndpointServiceNameRequestBody(endpoint_service_name="x")))
    with api_error(404, "EndPoint.0005"):
        bob.permit(sid, f"iam:domain::{bob.domain_id}")
    d = alice.service(sid)
    assert d.description == "" and d.status == "creating"


def test_other_tenant_endpoint_is_404(alice, bob, agent):
    svc = alice.available_service()
    vpc, sub = alice.network()
    eid = alice.create_endpoint(svc.id, vpc.id, sub.id).id
    with api_error(404, "EndPoint.2006"):
        bob.endpoint(eid)
    with api_error(404, "EndPoint.2006"):
        bob.vpcep.delete_endpoint(em.DeleteEndpointRequest(vpc_endpoint_id=eid))
    with api_error(404, "EndPoint.2006"):
        bob.vpcep.update_endpoint_white(em.UpdateEndpointWhiteRequest(
            vpc_endpoint_id=eid, body=em.UpdateEndpointWhiteRequestBody(whitelist=["1.1.1.1"], enable_whitelist=True)))
    assert alice.endpoint(eid).whitelist == []


def test_other_tenant_vpc_is_404(alice, bob):
    vpc, sub = alice.network()
    for call in (lambda: bob.vpc.show_vpc(vm.ShowVpcRequest(vpc_id=vpc.id)),
                 lambda: bob.vpc.show_subnet(vm.ShowSubnetRequest(subnet_id=sub.id)),
                 lambda: bob.vpc.delete_vpc(vm.DeleteVpcRequest(vpc_id=vpc.id))):
        try:
            call()
            raise AssertionError("foreign VPC resource visible")
        except ClientRequestException as e:
            assert e.status_code == 404, (e.status_code, e.error_code)
            assert e.error_code.startswith("VPC."), e.error_code
    # lab resources too
    srv = alice.server(vpc.id, sub.id)
    r = bob.raw("GET", f"lab/servers/{srv['id']}")
    assert r.status == 404


def test_unknown_service_id_is_404(alice):
    with api_error(404, "EndPoint.0005"):
        alice.vpcep.delete_endpoint_service(em.DeleteEndpointServiceRequest(vpc_endpoint_service_id=str(uuid.uuid4())))


@pytest.mark.parametrize("path", ["vpc-endpoint-services", "vpc-endpoints"])
def test_error_envelope_and_request_id(alice, path):
    r = alice.raw("GET", path, query=[("limit", "5000")])
    assert r.status == 400
    assert set(r.json) >= {"error_code", "error_msg"}
    assert isinstance(r.json["error_msg"], str) and r.json["error_msg"]
    assert r.header("X-Request-Id")
    ok = alice.raw("GET", path)
    assert ok.status == 200 and ok.header("X-Request-Id")


def test_request_id_on_success_sdk(alice):
    resp = alice.vpcep.list_quota_details(em.ListQuotaDetailsRequest())
    assert resp.status_code == 200
    assert raw_json(resp)["quotas"]["resources"]


def test_request_ids_are_unique(alice):
    ids = {alice.raw("GET", "quotas").header("X-Request-Id") for _ in range(5)}
    assert len(ids) == 5 and None not in ids
