"""Lab resources (servers, load balancers, sites) through raw signed requests."""

from huaweicloudsdkvpc.v2 import model as vm

from support import uniq, usable_host


def test_lab_server_lifecycle(alice):
    vpc, sub = alice.network("10.90.0.0/16", "10.90.1.0/24")
    sg = alice.vpc.create_security_group(vm.CreateSecurityGroupRequest(vm.CreateSecurityGroupRequestBody(
        vm.CreateSecurityGroupOption(name=uniq("sg-"), vpc_id=vpc.id)))).security_group
    name = uniq("vm-")
    r = alice.raw("POST", "lab/servers", {"server": {"name": name, "vpc_id": vpc.id,
                                                     "nics": [{"subnet_id": sub.id, "ip_address": "10.90.1.10"}],
                                                     "security_groups": [sg.id]}})
    assert r.status == 200, r.body
    assert r.header("X-Request-Id")
    s = r.json["server"]
    assert s["name"] == name and s["vpc_id"] == vpc.id
    assert s["security_groups"] == [sg.id]
    assert isinstance(s["status"], str) and isinstance(s["created_at"], str)
    assert len(s["nics"]) == 1
    nic = s["nics"][0]
    assert nic["subnet_id"] == sub.id and nic["ip_address"] == "10.90.1.10"
    assert isinstance(nic["mac_address"], str) and len(nic["mac_address"]) == 17

    # the NIC is a VPC port
    port = alice.vpc.show_port(vm.ShowPortRequest(port_id=nic["port_id"])).port
    assert port.fixed_ips[0].ip_address == "10.90.1.10"

    # an automatically addressed second server
    s2 = alice.server(vpc.id, sub.id)
    assert usable_host(s2["nics"][0]["ip_address"], sub.cidr, sub.gateway_ip)
    assert s2["nics"][0]["ip_address"] != "10.90.1.10"
    # the same IP twice is refused
    dup = alice.raw("POST", "lab/servers", {"server": {"name": uniq("vm-"), "vpc_id": vpc.id,
                                                       "nics": [{"subnet_id": sub.id, "ip_address": "10.90.1.10"}]}})
    assert dup.status in (400, 409), dup.body

    assert s["id"] in [x["id"] for x in alice.lab("GET", "servers")["servers"]]
    assert alice.lab("GET", f"servers/{s['id']}")["server"]["id"] == s["id"]
    r = alice.raw("DELETE", f"lab/servers/{s['id']}")
    assert r.status == 204 and r.body == b""
    assert alice.raw("GET", f"lab/servers/{s['id']}").status == 404


def test_lab_loadbalancer_lifecycle(alice):
    vpc, sub = alice.network("10.91.0.0/16", "10.91.1.0/24")
    lb = alice.loadbalancer(vpc.id, sub.id, vip="10.91.1.100")
    assert lb["vip_address"] == "10.91.1.100"
    assert lb["vpc_id"] == vpc.id and lb["subnet_id"] == sub.id
    assert isinstance(lb["vip_port_id"], str) and lb["vip_port_id"]
    assert lb["listeners"] == [{"protocol": "TCP", "port": 80, "members": [{"address": "192.168.0.10", "port": 8080}]}]
    assert type(lb["listeners"][0]["port"]) is int

    vip_port = alice.vpc.show_port(vm.ShowPortRequest(port_id=lb["vip_port_id"])).port
    assert vip_port.fixed_ips[0].ip_address == "10.91.1.100"

    upd = alice.lab("PUT", f"loadbalancers/{lb['id']}", {"loadbalancer": {
        "name": "renamed", "listeners": [{"protocol": "TCP", "port": 443,
                                          "members": [{"address": "192.168.0.11", "port": 8443}]}]}})["loadbalancer"]
    assert upd["name"] == "renamed"
    assert upd["listeners"] == [{"protocol": "TCP", "port": 443,
                                 "members": [{"address": "192.168.0.11", "port": 8443}]}]
    assert upd["vip_port_id"] == lb["vip_port_id"]
    assert alice.lab("GET", f"loadbalancers/{lb['id']}")["loadbalancer"]["name"] == "renamed"
    assert lb["id"] in [x["id"] for x in alice.lab("GET", "loadbalancers")["loadbalancers"]]

    auto = alice.loadbalancer(vpc.id, sub.id)
    assert usable_host(auto["vip_address"], sub.cidr, sub.gateway_ip) and auto["vip_address"] != "10.91.1.100"

    r = alice.raw("DELETE", f"lab/loadbalancers/{lb['id']}")
    assert r.status == 204
    assert alice.raw("GET", f"lab/loadbalancers/{lb['id']}").status == 404


def test_lab_site_lifecycle(alice):
    vpc, _ = alice.network()
    name = uniq("site-")
    site = alice.lab("POST", "sites", {"site": {"name": name, "vpc_id": vpc.id, "cidr": "172.30.0.0/16"}})["site"]
    assert site["name"] == name and site["vpc_id"] == vpc.id and site["cidr"] == "172.30.0.0/16"
    assert site["id"] in [x["id"] for x in alice.lab("GET", "sites")["sites"]]
    assert alice.lab("GET", f"sites/{site['id']}")["site"]["cidr"] == "172.30.0.0/16"
    assert alice.raw("DELETE", f"lab/sites/{site['id']}").status == 204
    assert alice.raw("GET", f"lab/sites/{site['id']}").status == 404


def test_lab_server_in_foreign_subnet_refused(alice, bob):
    vpc, sub = alice.network()
    bvpc, _ = bob.network()
    r = bob.raw("POST", "lab/servers", {"server": {"name": "x", "vpc_id": bvpc.id, "nics": [{"subnet_id": sub.id}]}})
    assert r.status in (400, 404), r.body
