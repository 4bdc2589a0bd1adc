"""The Huawei VPC v1 subset through huaweicloudsdkvpc.v2.VpcClient (docs/vpc-v1-wire.md)."""

import pytest
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkvpc.v2 import model as vm

from support import raw_json, uniq


def vpc_error(status: int, code: str, fn):
    try:
        fn()
    except ClientRequestException as e:
        assert (e.status_code, e.error_code) == (status, code), (e.status_code, e.error_code, e.error_msg)
        assert e.request_id
        return e
    raise AssertionError(f"expected HTTP {status} {code}, call succeeded")


def _create_vpc(t, cidr="10.60.0.0/16", name=None, **kw):
    return t.vpc.create_vpc(vm.CreateVpcRequest(vm.CreateVpcRequestBody(
        vm.CreateVpcOption(cidr=cidr, name=name or uniq("vpc-"), **kw))))


def _create_subnet(t, vpc_id, cidr="10.60.1.0/24", gw="10.60.1.1", name=None, **kw):
    return t.vpc.create_subnet(vm.CreateSubnetRequest(vm.CreateSubnetRequestBody(
        vm.CreateSubnetOption(name=name or uniq("sub-"), cidr=cidr, vpc_id=vpc_id, gateway_ip=gw, **kw))))


def test_vpc_create_list_show_update_delete(alice):
    name = uniq("vpc-")
    resp = _create_vpc(alice, "10.60.0.0/16", name, description="d1")
    assert resp.status_code == 200
    j = raw_json(resp)["vpc"]
    vid = j["id"]
    assert j["name"] == name and j["cidr"] == "10.60.0.0/16" and j["description"] == "d1"
    assert j["status"] in ("CREATING", "OK")
    assert j["tenant_id"] == alice.project_id
    assert isinstance(j["routes"], list)

    lst = raw_json(alice.vpc.list_vpcs(vm.ListVpcsRequest()))["vpcs"]
    assert vid in [v["id"] for v in lst]
    by_id = raw_json(alice.vpc.list_vpcs(vm.ListVpcsRequest(id=vid)))["vpcs"]
    assert [v["id"] for v in by_id] == [vid]

    shown = alice.vpc.show_vpc(vm.ShowVpcRequest(vpc_id=vid))
    assert shown.status_code == 200 and shown.vpc.id == vid and shown.vpc.name == name

    up = alice.vpc.update_vpc(vm.UpdateVpcRequest(vpc_id=vid, body=vm.UpdateVpcRequestBody(
        vm.UpdateVpcOption(name=name + "x", description="d2"))))
    assert up.status_code == 200
    assert up.vpc.name == name + "x" and up.vpc.description == "d2"
    assert alice.vpc.show_vpc(vm.ShowVpcRequest(vpc_id=vid)).vpc.name == name + "x"

    d = alice.vpc.delete_vpc(vm.DeleteVpcRequest(vpc_id=vid))
    assert d.status_code == 204
    e = vpc_error(404, "VPC.0101", lambda: alice.vpc.show_vpc(vm.ShowVpcRequest(vpc_id=vid)))
    assert e.error_code.startswith("VPC.")


def test_vpc_list_paging(alice):
    ids = [_create_vpc(alice).vpc.id for _ in range(3)]
    everything = [v.id for v in alice.vpc.list_vpcs(vm.ListVpcsRequest()).vpcs]
    start = everything.index(ids[0])
    page = alice.vpc.list_vpcs(vm.ListVpcsRequest(limit=2, marker=everything[start])).vpcs
    assert [v.id for v in page] == everything[start + 1:start + 3]


def test_subnet_create_list_show_update_delete(alice):
    vid = _create_vpc(alice).vpc.id
    resp = _create_subnet(alice, vid, "10.60.1.0/24", "10.60.1.1", primary_dns="100.125.1.250")
    assert resp.status_code == 200
    j = raw_json(resp)["subnet"]
    sid = j["id"]
    assert j["cidr"] == "10.60.1.0/24" and j["gateway_ip"] == "10.60.1.1" and j["vpc_id"] == vid
    assert j["dhcp_enable"] is True
    assert j["ipv6_enable"] is False
    assert j["status"] in ("ACTIVE", "UNKNOWN")
    assert j["neutron_network_id"] == sid
    assert j["neutron_subnet_id"] and j["neutron_subnet_id"] != sid
    assert j["primary_dns"] == "100.125.1.250"

    lst = raw_json(alice.vpc.list_subnets(vm.ListSubnetsRequest(vpc_id=vid)))["subnets"]
    assert [s["id"] for s in lst] == [sid]
    shown = alice.vpc.show_subnet(vm.ShowSubnetRequest(subnet_id=sid))
    assert shown.subnet.id == sid and shown.subnet.cidr == "10.60.1.0/24"

    up = alice.vpc.update_subnet(vm.UpdateSubnetRequest(vpc_id=vid, subnet_id=sid, body=vm.UpdateSubnetRequestBody(
        vm.UpdateSubnetOption(name="renamed", description="dd"))))
    assert up.status_code == 200
    assert up.subnet.id == sid and isinstance(up.subnet.status, str)
    assert alice.vpc.show_subnet(vm.ShowSubnetRequest(subnet_id=sid)).subnet.name == "renamed"

    # update/delete under another VPC -> 404
    other = _create_vpc(alice).vpc.id
    vpc_error(404, "VPC.0202", lambda: alice.vpc.delete_subnet(vm.DeleteSubnetRequest(vpc_id=other, subnet_id=sid)))

    d = alice.vpc.delete_subnet(vm.DeleteSubnetRequest(vpc_id=vid, subnet_id=sid))
    assert d.status_code == 204
    vpc_error(404, "VPC.0202", lambda: alice.vpc.show_subnet(vm.ShowSubnetRequest(subnet_id=sid)))


def test_port_create_list_show_update_delete(alice):
    vid = _create_vpc(alice).vpc.id
    sub = _create_subnet(alice, vid).subnet
    resp = alice.vpc.create_port(vm.CreatePortRequest(vm.CreatePortRequestBody(vm.CreatePortOption(
        name="p1", network_id=sub.id, fixed_ips=[vm.FixedIp(ip_address="10.60.1.20")]))))
    assert resp.status_code == 200
    j = raw_json(resp)["port"]
    pid = j["id"]
    assert j["network_id"] == sub.id
    assert j["fixed_ips"] == [{"subnet_id": sub.neutron_subnet_id, "ip_address": "10.60.1.20"}]
    assert j["admin_state_up"] is True
    assert isinstance(j["mac_address"], str) and len(j["mac_address"]) == 17
    assert isinstance(j["security_groups"], list)

    auto = alice.vpc.create_port(vm.CreatePortRequest(vm.CreatePortRequestBody(vm.CreatePortOption(
        name="p2", network_id=sub.id)))).port
    assert auto.fixed_ips[0].ip_address.startswith("10.60.1.")
    assert auto.fixed_ips[0].ip_address not in ("10.60.1.0", "10.60.1.1", "10.60.1.20", "10.60.1.255")

    # the same fixed IP twice is refused
    try:
        alice.vpc.create_port(vm.CreatePortRequest(vm.CreatePortRequestBody(vm.CreatePortOption(
            network_id=sub.id, fixed_ips=[vm.FixedIp(ip_address="10.60.1.20")]))))
        raise AssertionError("duplicate fixed IP accepted")
    except ClientRequestException as e:
        assert e.status_code in (400, 409) and e.error_code.startswith("VPC."), (e.status_code, e.error_code)

    lst = alice.vpc.list_ports(vm.ListPortsRequest(network_id=sub.id)).ports
    assert sorted(p.id for p in lst) == sorted([pid, auto.id])
    by_ip = alice.vpc.list_ports(vm.ListPortsRequest(fixed_ips=["ip_address=10.60.1.20"])).ports
    assert [p.id for p in by_ip] == [pid]

    shown = alice.vpc.show_port(vm.ShowPortRequest(port_id=pid))
    assert shown.port.id == pid and shown.port.name == "p1"
    up = alice.vpc.update_port(vm.UpdatePortRequest(port_id=pid, body=vm.UpdatePortRequestBody(
        vm.UpdatePortOption(name="p1-renamed"))))
    assert up.status_code == 200 and up.port.name == "p1-renamed"

    assert alice.vpc.delete_port(vm.DeletePortRequest(port_id=pid)).status_code == 204
    vpc_error(404, "VPC.0701", lambda: alice.vpc.show_port(vm.ShowPortRequest(port_id=pid)))


def test_security_group_and_rules(alice):
    vid = _create_vpc(alice).vpc.id
    name = uniq("sg-")
    resp = alice.vpc.create_security_group(vm.CreateSecurityGroupRequest(vm.CreateSecurityGroupRequestBody(
        vm.CreateSecurityGroupOption(name=name, vpc_id=vid))))
    assert resp.status_code == 200
    sg = raw_json(resp)["security_group"]
    assert sg["name"] == name and sg["vpc_id"] == vid
    assert isinstance(sg["security_group_rules"], list)
    sgid = sg["id"]

    assert sgid in [s.id for s in alice.vpc.list_security_groups(vm.ListSecurityGroupsRequest(vpc_id=vid)).security_groups]
    assert alice.vpc.show_security_group(vm.ShowSecurityGroupRequest(security_group_id=sgid)).security_group.name == name

    rresp = alice.vpc.create_security_group_rule(vm.CreateSecurityGroupRuleRequest(
        vm.CreateSecurityGroupRuleRequestBody(vm.CreateSecurityGroupRuleOption(
            security_group_id=sgid, direction="ingress", ethertype="IPv4", protocol="tcp",
            port_range_min=22, port_range_max=22, remote_ip_prefix="198.19.128.0/20", description="ssh"))))
    assert rresp.status_code == 200
    rule = raw_json(rresp)["security_group_rule"]
    assert rule["security_group_id"] == sgid and rule["direction"] == "ingress"
    assert rule["protocol"] == "tcp" and rule["ethertype"] == "IPv4"
    assert type(rule["port_range_min"]) is int and rule["port_range_min"] == 22 and rule["port_range_max"] == 22
    assert rule["remote_ip_prefix"] == "198.19.128.0/20"
    assert rule["remote_group_id"] is None
    rid = rule["id"]

    rules = alice.vpc.list_security_group_rules(vm.ListSecurityGroupRulesRequest(security_group_id=sgid))
    assert rid in [r.id for r in rules.security_group_rules]
    assert alice.vpc.show_security_group_rule(
        vm.ShowSecurityGroupRuleRequest(security_group_rule_id=rid)).security_group_rule.port_range_min == 22
    shown = alice.vpc.show_security_group(vm.ShowSecurityGroupRequest(security_group_id=sgid)).security_group
    assert rid in [r.id for r in shown.security_group_rules]

    assert alice.vpc.delete_security_group_rule(
        vm.DeleteSecurityGroupRuleRequest(security_group_rule_id=rid)).status_code == 204
    vpc_error(404, "VPC.0603", lambda: alice.vpc.show_security_group_rule(
        vm.ShowSecurityGroupRuleRequest(security_group_rule_id=rid)))
    assert alice.vpc.delete_security_group(vm.DeleteSecurityGroupRequest(security_group_id=sgid)).status_code == 204
    vpc_error(404, "VPC.0602", lambda: alice.vpc.show_security_group(
        vm.ShowSecurityGroupRequest(security_group_id=sgid)))


@pytest.mark.parametrize("cidr", ["198.19.128.0/20", "198.19.0.0/16", "198.19.130.0/24", "198.0.0.0/8"])
def test_vpc_cidr_overlapping_reserved_range_refused(alice, cidr):
    vpc_error(400, "VPC.0002", lambda: _create_vpc(alice, cidr))


def test_subnet_cidr_overlapping_reserved_range_refused(alice):
    vid = alice.vpc.create_vpc(vm.CreateVpcRequest(vm.CreateVpcRequestBody(
        vm.CreateVpcOption(name=uniq("vpc-"))))).vpc.id  # a VPC without a CIDR
    vpc_error(400, "VPC.0002", lambda: _create_subnet(alice, vid, "198.19.140.0/24", "198.19.140.1"))
    # widening a VPC onto the reserved range is refused too
    vpc_error(400, "VPC.0002", lambda: alice.vpc.update_vpc(vm.UpdateVpcRequest(
        vpc_id=vid, body=vm.UpdateVpcRequestBody(vm.UpdateVpcOption(cidr="198.19.0.0/16")))))
    # just outside the reserved /20 is fine
    near = _create_vpc(alice, "198.19.144.0/20").vpc.id
    ok = _create_subnet(alice, near, "198.19.144.0/24", "198.19.144.1")
    assert ok.subnet.cidr == "198.19.144.0/24"


def test_identical_cidrs_in_two_vpcs(alice, bob):
    a = _create_vpc(alice, "10.70.0.0/16").vpc
    b = _create_vpc(alice, "10.70.0.0/16").vpc
    c = _create_vpc(bob, "10.70.0.0/16").vpc
    assert len({a.id, b.id, c.id}) == 3
    for v in (a, b):
        s = _create_subnet(alice, v.id, "10.70.1.0/24", "10.70.1.1").subnet
        assert s.cidr == "10.70.1.0/24"
    _create_subnet(bob, c.id, "10.70.1.0/24", "10.70.1.1")


def test_subnet_outside_vpc_or_overlapping_refused(alice):
    vid = _create_vpc(alice, "10.80.0.0/16").vpc.id
    _create_subnet(alice, vid, "10.80.1.0/24", "10.80.1.1")
    for cidr, gw in (("10.81.1.0/24", "10.81.1.1"), ("10.80.1.128/25", "10.80.1.129")):
        try:
            _create_subnet(alice, vid, cidr, gw)
            raise AssertionError(f"subnet {cidr} accepted")
        except ClientRequestException as e:
            assert e.status_code == 400 and e.error_code.startswith("VPC."), (e.status_code, e.error_code)


def test_delete_in_use_refused(alice):
    vid = _create_vpc(alice).vpc.id
    sub = _create_subnet(alice, vid).subnet
    alice.vpc.create_port(vm.CreatePortRequest(vm.CreatePortRequestBody(vm.CreatePortOption(network_id=sub.id))))
    for call in (lambda: alice.vpc.delete_vpc(vm.DeleteVpcRequest(vpc_id=vid)),
                 lambda: alice.vpc.delete_subnet(vm.DeleteSubnetRequest(vpc_id=vid, subnet_id=sub.id))):
        try:
            call()
            raise AssertionError("deleted a VPC resource still in use")
        except ClientRequestException as e:
            assert e.status_code in (400, 409) and e.error_code.startswith("VPC."), (e.status_code, e.error_code)
    assert alice.vpc.show_subnet(vm.ShowSubnetRequest(subnet_id=sub.id)).subnet.id == sub.id
