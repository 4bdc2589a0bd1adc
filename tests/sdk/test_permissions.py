"""Service whitelist (operations 14-18), describe (5), public services (6) and cross-account rules."""

import pytest
from huaweicloudsdkvpcep.v1 import model as em

from support import REGION, api_error, raw_json, uniq


def _perms(t, sid, **kw):
    return t.vpcep.list_service_permissions_details(
        em.ListServicePermissionsDetailsRequest(vpc_endpoint_service_id=sid, **kw))


# ---- 15 add/remove (legacy) ---------------------------------------------------------------------


def test_add_or_remove_service_permissions(alice, bob):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    bob_perm = f"iam:domain::{bob.domain_id}"

    resp = alice.permit(sid, bob_perm, "*")
    assert resp.status_code == 200
    j = raw_json(resp)
    assert sorted(j["permissions"]) == sorted([bob_perm, "*"])
    assert j["permission_type"] == "domainId"
    listed = raw_json(_perms(alice, sid))
    assert listed["total_count"] == 2
    assert sorted(p["permission"] for p in listed["permissions"]) == sorted([bob_perm, "*"])

    body = em.AddOrRemoveServicePermissionsRequestBody(permissions=["*"], action="remove",
                                                       permission_type="domainId")
    resp = alice.vpcep.add_or_remove_service_permissions(
        em.AddOrRemoveServicePermissionsRequest(vpc_endpoint_service_id=sid, body=body))
    assert raw_json(resp)["permissions"] == [bob_perm]
    assert [p.permission for p in _perms(alice, sid).permissions] == [bob_perm]


def test_add_or_remove_service_permissions_invalid(alice):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id

    def call(perms, action="add"):
        body = em.AddOrRemoveServicePermissionsRequestBody(permissions=perms, action=action,
                                                           permission_type="domainId")
        return alice.vpcep.add_or_remove_service_permissions(
            em.AddOrRemoveServicePermissionsRequest(vpc_endpoint_service_id=sid, body=body))

    with api_error(400, "EndPoint.3002"):
        call(["iam:domain::not valid!"])
    with api_error(400, "EndPoint.3002"):
        call(["garbage"])
    with api_error(400, "EndPoint.3035"):
        call(["*"], action="grant")
    with api_error(400, "EndPoint.3036"):
        call([])


# ---- 16 batch create / 14 list / 18 describe / 17 batch delete --------------------------------


def test_batch_add_endpoint_service_permissions(alice, bob):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    body = em.BatchAddEndpointServicePermissionsRequestBody(
        permissions=[em.EpsAddPermissionRequest(permission=f"iam:domain::{bob.domain_id}", description="bob"),
                     em.EpsAddPermissionRequest(permission="*", description="everyone")],
        permission_type="domainId")
    resp = alice.vpcep.batch_add_endpoint_service_permissions(
        em.BatchAddEndpointServicePermissionsRequest(vpc_endpoint_service_id=sid, body=body))
    assert resp.status_code == 200
    perms = raw_json(resp)["permissions"]
    assert len(perms) == 2
    by = {p["permission"]: p for p in perms}
    assert by[f"iam:domain::{bob.domain_id}"]["description"] == "bob"
    assert by["*"]["description"] == "everyone"
    for p in perms:
        assert p["permission_type"] == "domainId"
        assert isinstance(p["id"], str) and p["id"]
        assert isinstance(p["created_at"], str)


def test_list_service_permissions_details(alice, bob, dave):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    alice.permit(sid, f"iam:domain::{bob.domain_id}", f"iam:domain::{dave.domain_id}", "*")

    resp = _perms(alice, sid)
    assert resp.status_code == 200
    j = raw_json(resp)
    assert j["total_count"] == 3 and len(j["permissions"]) == 3
    for p in j["permissions"]:
        assert set(p) >= {"id", "permission", "permission_type", "created_at"}
        assert p["permission_type"] == "domainId"

    fuzzy = raw_json(_perms(alice, sid, permission=bob.domain_id[4:20]))  # fuzzy match
    assert fuzzy["total_count"] == 1
    assert fuzzy["permissions"][0]["permission"] == f"iam:domain::{bob.domain_id}"

    with api_error(400, "EndPoint.0006"):
        _perms(alice, sid, limit=501)
    assert raw_json(_perms(alice, sid, limit=500))["total_count"] == 3

    page = raw_json(_perms(alice, sid, limit=2, offset=0))
    assert page["total_count"] == 3 and len(page["permissions"]) == 2
    page2 = raw_json(_perms(alice, sid, limit=2, offset=2))
    assert page2["total_count"] == 3 and len(page2["permissions"]) == 1


def test_update_endpoint_service_permission_desc(alice, bob):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    alice.permit(sid, f"iam:domain::{bob.domain_id}")
    pid = _perms(alice, sid).permissions[0].id
    resp = alice.vpcep.update_endpoint_service_permission_desc(em.UpdateEndpointServicePermissionDescRequest(
        vpc_endpoint_service_id=sid, permission_id=pid,
        body=em.UpdateEndpointServicePermissionDescRequestBody(
            permission=em.EpsUpdatePermissionDesc(description="bob's team"))))
    assert resp.status_code == 200
    perms = raw_json(resp)["permissions"]
    assert len(perms) == 1
    assert perms[0]["id"] == pid
    assert perms[0]["description"] == "bob's team"
    assert perms[0]["permission"] == f"iam:domain::{bob.domain_id}"


def test_batch_remove_endpoint_service_permissions(alice, bob):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    alice.permit(sid, f"iam:domain::{bob.domain_id}", "*")
    by = {p.permission: p.id for p in _perms(alice, sid).permissions}
    resp = alice.vpcep.batch_remove_endpoint_service_permissions(em.BatchRemoveEndpointServicePermissionsRequest(
        vpc_endpoint_service_id=sid, body=em.BatchRemoveEndpointServicePermissionsRequestBody(
            permissions=[em.EpsRemovePermissionRequest(id=by["*"])])))
    assert resp.status_code == 200
    left = raw_json(_perms(alice, sid))
    assert left["total_count"] == 1
    assert left["permissions"][0]["permission"] == f"iam:domain::{bob.domain_id}"


# ---- cross-account connection rules ---------------------------------------------------------------


def test_connect_without_whitelist_refused(alice, bob, agent):
    svc = alice.available_service()
    vpc, sub = bob.network()
    with api_error(400, "EndPoint.2012"):
        bob.create_endpoint(svc.id, vpc.id, sub.id)


def test_connect_with_domain_whitelist(alice, bob, agent):
    svc = alice.available_service(approval=True)
    alice.permit(svc.id, f"iam:domain::{bob.domain_id}")
    vpc, sub = bob.network()
    ep = bob.create_endpoint(svc.id, vpc.id, sub.id)
    assert ep.status == "pendingAcceptance"
    assert ep.endpoint_service_id == svc.id


def test_connect_with_star_whitelist(alice, bob, agent):
    svc = alice.available_service(approval=False)
    alice.permit(svc.id, "*")
    vpc, sub = bob.network()
    ep = bob.create_endpoint(svc.id, vpc.id, sub.id)
    assert ep.status == "creating"
    bob.wait_endpoint(ep.id, "accepted")


def test_owner_connects_without_whitelist(alice, agent):
    svc = alice.available_service(approval=True)
    vpc, sub = alice.network()
    ep = alice.create_endpoint(svc.id, vpc.id, sub.id)
    assert ep.status == "pendingAcceptance"


def test_whitelist_removal_blocks_new_connections(alice, bob, agent):
    svc = alice.available_service()
    alice.permit(svc.id, f"iam:domain::{bob.domain_id}")
    pid = _perms(alice, svc.id).permissions[0].id
    alice.vpcep.batch_remove_endpoint_service_permissions(em.BatchRemoveEndpointServicePermissionsRequest(
        vpc_endpoint_service_id=svc.id, body=em.BatchRemoveEndpointServicePermissionsRequestBody(
            permissions=[em.EpsRemovePermissionRequest(id=pid)])))
    vpc, sub = bob.network()
    with api_error(400, "EndPoint.2012"):
        bob.create_endpoint(svc.id, vpc.id, sub.id)


# ---- 5 describe -----------------------------------------------------------------------------------


def test_list_service_describe_details(alice, bob, agent):
    name = uniq("ds")
    svc = alice.available_service(name=name)
    full = f"{REGION}.{name}.{svc.id}"

    # not whitelisted: bob cannot see it
    with api_error(404, "EndPoint.0005"):
        bob.vpcep.list_service_describe_details(em.ListServiceDescribeDetailsRequest(id=svc.id))

    alice.permit(svc.id, f"iam:domain::{bob.domain_id}")
    for req in (em.ListServiceDescribeDetailsRequest(id=svc.id),
                em.ListServiceDescribeDetailsRequest(endpoint_service_name=full)):
        resp = bob.vpcep.list_service_describe_details(req)
        assert resp.status_code == 200
        j = raw_json(resp)
        assert j["id"] == svc.id
        assert j["service_name"] == full
        assert j["service_type"] == "interface"
        assert type(j["is_charge"]) is bool
        assert isinstance(j["created_at"], str)

    # describe by name is an exact match on the full name
    with api_error(404, "EndPoint.0005"):
        bob.vpcep.list_service_describe_details(em.ListServiceDescribeDetailsRequest(endpoint_service_name=name))

    # the owner can always describe its own service
    assert alice.vpcep.list_service_describe_details(em.ListServiceDescribeDetailsRequest(id=svc.id)).id == svc.id


@pytest.mark.parametrize("both", [True, False])
def test_list_service_describe_details_needs_exactly_one_key(alice, both):
    vpc_id, port_id = alice.vm_backend()
    r = alice.create_service(vpc_id, port_id)
    req = (em.ListServiceDescribeDetailsRequest(id=r.id, endpoint_service_name=r.service_name) if both
           else em.ListServiceDescribeDetailsRequest())
    with api_error(400, "EndPoint.0002"):
        alice.vpcep.list_service_describe_details(req)


def test_describe_service_of_other_region(alice, carol, agent):
    svc = alice.available_service()
    alice.permit(svc.id, "*", f"iam:domain::{carol.domain_id}")
    with api_error(404, "EndPoint.0005"):
        carol.vpcep.list_service_describe_details(em.ListServiceDescribeDetailsRequest(id=svc.id))
    with api_error(404, "EndPoint.0005"):
        carol.vpcep.list_service_describe_details(
            em.ListServiceDescribeDetailsRequest(endpoint_service_name=svc.service_name))


# ---- 6 public services ------------------------------------------------------------------------------


def test_list_service_public_details(alice, agent):
    svc = alice.available_service()
    resp = alice.vpcep.list_service_public_details(em.ListServicePublicDetailsRequest(limit=100, offset=0))
    assert resp.status_code == 200
    j = raw_json(resp)
    assert type(j["total_count"]) is int
    assert isinstance(j["endpoint_services"], list)
    assert svc.id not in [s["id"] for s in j["endpoint_services"]]  # tenant services are not public
    for s in j["endpoint_services"]:
        assert type(s["is_charge"]) is bool
    with api_error(400, "EndPoint.0006"):
        alice.vpcep.list_service_public_details(em.ListServicePublicDetailsRequest(limit=1001))


def test_builtin_dns_cloud_service(server, bob, agent):
    """SPEC S2: `vpcep serve` creates the region's DNS cloud service at start, public as
    `{vendor-prefix}.{region}.dns` (default prefix `cn.ctyun`), found by name and connectable by any
    account with no whitelist entry and no approval."""
    name = f"cn.ctyun.{REGION}.dns"
    j = raw_json(bob.vpcep.list_service_public_details(
        em.ListServicePublicDetailsRequest(endpoint_service_name=name)))
    found = [s for s in j["endpoint_services"] if s["service_name"] == name]
    assert len(found) == 1, j
    s = found[0]
    assert s["service_type"] == "interface"
    d = raw_json(bob.vpcep.list_service_describe_details(
        em.ListServiceDescribeDetailsRequest(endpoint_service_name=name)))
    assert d["id"] == s["id"] and d["service_name"] == name
    vpc, sub = bob.network("10.53.0.0/16", "10.53.1.0/24")
    ep = bob.create_endpoint(s["id"], vpc.id, sub.id)  # no whitelist, no approval
    assert ep.status in ("creating", "accepted")
    bob.wait_endpoint(ep.id, "accepted")


def test_list_service_public_details_cloud_service(server, bob, agent):
    """An operator cloud service (`vpcep admin cloud-service create`) is public: listed for every
    tenant of the region and connectable without a whitelist."""
    import json
    import subprocess

    from conftest import BIN
    from support import Tenant

    def admin(*args):
        r = subprocess.run([BIN, "admin", *args, "--data-dir", server.data_dir, "-o", "json"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr + r.stdout
        return r.stdout

    a = json.loads(admin("account", "create", uniq("ops")))
    ops = Tenant(name=a["name"], domain_id=a["domain_id"], project_id=a["project_id"], region=a["region"],
                 ak=a["access_key"], sk=a["secret_key"], port=server.port)
    vpc_id, port_id = ops.vm_backend()
    name = uniq("dns")
    admin("cloud-service", "create", "--account", a["name"], "--name", name, "--vpc", vpc_id,
          "--port-id", port_id, "--ports", "53:53/udp,53:53/tcp")

    def listed():
        j = raw_json(bob.vpcep.list_service_public_details(em.ListServicePublicDetailsRequest(limit=1000)))
        return [s for s in j["endpoint_services"] if name in s["service_name"]]

    svc = listed()
    assert len(svc) == 1, svc
    s = svc[0]
    assert s["service_name"].startswith(f"{REGION}.{name}")
    assert type(s["is_charge"]) is bool
    assert s["service_type"] == "interface"
    assert isinstance(s["owner"], str) and s["owner"]
    by_name = raw_json(bob.vpcep.list_service_public_details(
        em.ListServicePublicDetailsRequest(endpoint_service_name=name)))
    assert by_name["total_count"] == 1 and by_name["endpoint_services"][0]["id"] == s["id"]

    ops.wait_service(s["id"], "available")
    vpc, sub = bob.network()
    ep = bob.create_endpoint(s["id"], vpc.id, sub.id)  # no whitelist needed
    assert ep.status in ("creating", "accepted")
    bob.wait_endpoint(ep.id, "accepted")
