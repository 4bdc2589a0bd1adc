"""Tags: operations 27, 28, 29."""

import pytest
from huaweicloudsdkvpcep.v1 import model as em

from support import api_error, raw_json, uniq


def _tag_action(t, rtype, rid, action, tags):
    return t.vpcep.batch_add_or_remove_resource_instance(em.BatchAddOrRemoveResourceInstanceRequest(
        resource_type=rtype, resource_id=rid,
        body=em.BatchAddOrRemoveResourceInstanceRequestBody(
            action=action, tags=[em.ResourceTag(key=k, value=v) for k, v in tags])))


def _tags_of(j) -> list:
    return sorted((t["key"], t["value"]) for t in j["tags"])


def test_batch_add_or_remove_resource_instance(alice, agent):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id, tags=[em.TagList(key="a", value="1")]).id

    resp = _tag_action(alice, "endpoint_service", sid, "create", [("b", "2"), ("c", "3")])
    assert resp.status_code == 204
    assert _tags_of(raw_json(alice.service(sid))) == [("a", "1"), ("b", "2"), ("c", "3")]

    # create with an existing key overwrites its value
    _tag_action(alice, "endpoint_service", sid, "create", [("a", "9")])
    assert _tags_of(raw_json(alice.service(sid))) == [("a", "9"), ("b", "2"), ("c", "3")]

    resp = _tag_action(alice, "endpoint_service", sid, "delete", [("b", "2")])
    assert resp.status_code == 204
    # a tag without value is deleted by key
    alice.vpcep.batch_add_or_remove_resource_instance(em.BatchAddOrRemoveResourceInstanceRequest(
        resource_type="endpoint_service", resource_id=sid,
        body=em.BatchAddOrRemoveResourceInstanceRequestBody(action="delete", tags=[em.ResourceTag(key="c")])))
    assert _tags_of(raw_json(alice.service(sid))) == [("a", "9")]

    # endpoints carry tags too
    svc = alice.wait_service(sid, "available")
    vpc, sub = alice.network()
    eid = alice.create_endpoint(svc.id, vpc.id, sub.id).id
    assert _tag_action(alice, "endpoint", eid, "create", [("x", "y")]).status_code == 204
    assert _tags_of(raw_json(alice.endpoint(eid))) == [("x", "y")]

    with api_error(400, "EndPoint.3067"):
        _tag_action(alice, "endpoint_service", sid, "create", [("d", "1"), ("d", "2")])
    with api_error(400, "EndPoint.3069"):
        _tag_action(alice, "endpoint_service", sid, "create", [(f"k{i}", "v") for i in range(21)])
    with api_error(400, "EndPoint.3070"):
        _tag_action(alice, "router", sid, "create", [("x", "y")])
    with api_error(400, "EndPoint.0007"):
        _tag_action(alice, "endpoint_service", sid, "upsert", [("x", "y")])


def test_batch_add_or_remove_resource_instance_other_tenant(alice, bob):
    vpc_id, port_id = alice.vm_backend()
    sid = alice.create_service(vpc_id, port_id).id
    with api_error(404, "EndPoint.0005"):
        _tag_action(bob, "endpoint_service", sid, "create", [("x", "y")])


def test_list_query_project_resource_tags(bob):
    key = uniq("k")
    vpc_id, port_id = bob.vm_backend()
    s1 = bob.create_service(vpc_id, port_id, ports=[em.PortList(client_port=1, server_port=1, protocol="TCP")]).id
    s2 = bob.create_service(vpc_id, port_id, ports=[em.PortList(client_port=2, server_port=2, protocol="TCP")]).id
    _tag_action(bob, "endpoint_service", s1, "create", [(key, "v1")])
    _tag_action(bob, "endpoint_service", s2, "create", [(key, "v2")])
    resp = bob.vpcep.list_query_project_resource_tags(
        em.ListQueryProjectResourceTagsRequest(resource_type="endpoint_service"))
    assert resp.status_code == 200
    tags = {t["key"]: t["values"] for t in raw_json(resp)["tags"]}
    assert sorted(tags[key]) == ["v1", "v2"]
    # endpoints have their own tag namespace
    ep_tags = raw_json(bob.vpcep.list_query_project_resource_tags(
        em.ListQueryProjectResourceTagsRequest(resource_type="endpoint")))["tags"]
    assert key not in [t["key"] for t in ep_tags]


def test_list_resource_instances(bob):
    key = uniq("r")
    vpc_id, port_id = bob.vm_backend()
    ids = []
    for i, val in enumerate(("red", "blue", "blue")):
        sid = bob.create_service(vpc_id, port_id,
                                 ports=[em.PortList(client_port=10 + i, server_port=10 + i, protocol="TCP")]).id
        _tag_action(bob, "endpoint_service", sid, "create", [(key, val)])
        ids.append(sid)

    def query(action, tags, **kw):
        return bob.vpcep.list_resource_instances(em.ListResourceInstancesRequest(
            resource_type="endpoint_service",
            body=em.QueryResourceInstanceTagsBody(action=action, tags=tags, **kw)))

    resp = query("filter", [em.TagValuesList(key=key, values=["blue"])])
    assert resp.status_code == 200
    j = raw_json(resp)
    assert j["total_count"] == 2
    assert sorted(r["resource_id"] for r in j["resources"]) == sorted(ids[1:])
    for r in j["resources"]:
        assert r["tags"] == [{"key": key, "value": "blue"}]
        assert isinstance(r["resource_name"], str)

    both = raw_json(query("filter", [em.TagValuesList(key=key, values=["red", "blue"])]))
    assert both["total_count"] == 3

    page = raw_json(query("filter", [em.TagValuesList(key=key, values=["red", "blue"])], limit="2", offset="0"))
    assert page["total_count"] == 3 and len(page["resources"]) == 2

    count = raw_json(query("count", [em.TagValuesList(key=key, values=["red"])]))
    assert count["total_count"] == 1
    assert count.get("resources") in (None, [])

    none = raw_json(query("filter", [em.TagValuesList(key=key, values=["green"])]))
    assert none["total_count"] == 0 and none["resources"] == []

    with api_error(400, "EndPoint.0007"):
        query("search", [em.TagValuesList(key=key, values=["red"])])


@pytest.mark.parametrize("rtype", ["endpoint_service", "endpoint"])
def test_list_resource_instances_without_tags_filter(bob, rtype):
    resp = bob.vpcep.list_resource_instances(em.ListResourceInstancesRequest(
        resource_type=rtype, body=em.QueryResourceInstanceTagsBody(action="count")))
    assert type(raw_json(resp)["total_count"]) is int
