"""Shared helpers of the vpcep SDK end-to-end suite.

Everything here talks to a running `vpcep serve` over HTTP: the official Huawei SDK clients,
a raw SDK-HMAC-SHA256 signed request helper (for the lab resources, which no SDK knows, and for
negative authentication tests), and a test agent standing in for the data plane.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import hmac
import http.client
import ipaddress
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import quote, unquote

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkvpc.v2 import VpcClient
from huaweicloudsdkvpc.v2 import model as vm
from huaweicloudsdkvpcep.v1 import VpcepClient
from huaweicloudsdkvpcep.v1 import model as em

REGION = "cn-north-4"


# ---- small utilities ------------------------------------------------------------------------


def uniq(prefix: str = "t", n: int = 8) -> str:
    """A unique short name (service names must stay within 16 characters)."""
    return f"{prefix}{uuid.uuid4().hex[:n]}"


def wait_for(fn: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll `fn` until it returns a truthy value; raise with the last value on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except AssertionError as e:  # allow fn to assert
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last={last!r}")
        time.sleep(interval)


@contextlib.contextmanager
def api_error(status: int, code: str):
    """Expect the SDK call inside to raise ClientRequestException(status, code)."""
    holder: dict = {}
    try:
        yield holder
    except ClientRequestException as e:
        holder["exc"] = e
        assert (e.status_code, e.error_code) == (status, code), (
            f"expected HTTP {status} {code}, got HTTP {e.status_code} {e.error_code}: {e.error_msg}"
        )
        assert e.request_id, "error response without X-Request-Id"
        return
    raise AssertionError(f"expected HTTP {status} {code}, but the call succeeded")


def raw_json(resp) -> Any:
    """The JSON the server actually sent for an SDK response (to check JSON types exactly)."""
    return resp.to_json_object()


def ip_in(ip: str, cidr: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)


def usable_host(ip: str, cidr: str, gateway: str) -> bool:
    net = ipaddress.ip_network(cidr)
    a = ipaddress.ip_address(ip)
    return a in net and a not in (net.network_address, net.broadcast_address, ipaddress.ip_address(gateway))


# ---- SDK-HMAC-SHA256 (reference §7) ---------------------------------------------------------


def _enc(s: str) -> str:
    return quote(s, safe="~")


def sign_headers(ak: str, sk: str, method: str, host: str, path: str, query: list[tuple[str, str]],
                 headers: dict[str, str], body: bytes, date: Optional[str] = None) -> dict[str, str]:
    """Return a copy of `headers` plus X-Sdk-Date, Host and Authorization."""
    h = dict(headers)
    h.setdefault("X-Sdk-Date", date or _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    h.setdefault("Host", host)
    signed = sorted(k.lower() for k in h if "_" not in k)
    lower = {k.lower(): v.strip() for k, v in h.items()}
    segs = [_enc(unquote(s)) for s in path.split("/")]
    curi = "/".join(segs)
    if not curi.endswith("/"):
        curi += "/"
    cquery = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(query))
    cheaders = "".join(f"{k}:{lower[k]}\n" for k in signed)
    creq = "\n".join([method, curi, cquery, cheaders, ";".join(signed), hashlib.sha256(body).hexdigest()])
    sts = "\n".join(["SDK-HMAC-SHA256", h["X-Sdk-Date"], hashlib.sha256(creq.encode()).hexdigest()])
    sig = hmac.new(sk.encode(), sts.encode(), hashlib.sha256).hexdigest()
    h["Authorization"] = f"SDK-HMAC-SHA256 Access={ak}, SignedHeaders={';'.join(signed)}, Signature={sig}"
    return h


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def error_code(self) -> Optional[str]:
        j = self.json
        if isinstance(j, dict):
            return j.get("error_code") or j.get("code")
        return None

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None


def http_request(port: int, method: str, path: str, query: Optional[list[tuple[str, str]]] = None,
                 body: Optional[bytes] = None, headers: Optional[dict[str, str]] = None,
                 timeout: float = 30.0) -> RawResponse:
    url = path
    if query:
        url += "?" + "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(query))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, url, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return RawResponse(r.status, {k: v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


# ---- tenants --------------------------------------------------------------------------------


@dataclass
class Tenant:
    name: str
    domain_id: str
    project_id: str
    region: str
    ak: str
    sk: str
    port: int
    _vpcep: Optional[VpcepClient] = field(default=None, repr=False)
    _vpc: Optional[VpcClient] = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def vpcep_client(self, ak: Optional[str] = None, sk: Optional[str] = None,
                     project_id: Optional[str] = None) -> VpcepClient:
        creds = BasicCredentials(ak or self.ak, sk or self.sk, project_id or self.project_id)
        return (VpcepClient.new_builder().with_credentials(creds).with_endpoint(self.base_url)
                .with_http_config(HttpConfig.get_default_config()).build())

    def vpc_client(self, ak: Optional[str] = None, sk: Optional[str] = None,
                   project_id: Optional[str] = None) -> VpcClient:
        creds = BasicCredentials(ak or self.ak, sk or self.sk, project_id or self.project_id)
        return (VpcClient.new_builder().with_credentials(creds).with_endpoint(self.base_url)
                .with_http_config(HttpConfig.get_default_config()).build())

    @property
    def vpcep(self) -> VpcepClient:
        if self._vpcep is None:
            self._vpcep = self.vpcep_client()
        return self._vpcep

    @property
    def vpc(self) -> VpcClient:
        if self._vpc is None:
            self._vpc = self.vpc_client()
        return self._vpc

    # raw signed requests -------------------------------------------------------------------

    def raw(self, method: str, path: str, body: Any = None, query: Optional[list[tuple[str, str]]] = None,
            ak: Optional[str] = None, sk: Optional[str] = None, project_header: Optional[str] = None,
            unsigned: bool = False) -> RawResponse:
        """A signed request; `path` is absolute (`/v1/...`) or relative to `/v1/{project_id}`."""
        if not path.startswith("/"):
            path = f"/v1/{self.project_id}/{path}"
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json;charset=utf-8" if body is not None else "application/json",
                   "X-Project-Id": project_header or self.project_id}
        if not unsigned:
            headers = sign_headers(ak or self.ak, sk or self.sk, method, f"127.0.0.1:{self.port}", path,
                                   query or [], headers, data)
        return http_request(self.port, method, path, query=query, body=data if body is not None else None,
                            headers=headers)

    def lab(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        r = self.raw(method, f"lab/{path}", body)
        assert r.status == expect, f"{method} lab/{path}: HTTP {r.status} {r.body[:400]!r}"
        return r.json

    # builders --------------------------------------------------------------------------------

    def network(self, cidr: str = "10.20.0.0/16", subnet_cidr: str = "10.20.1.0/24"):
        """A fresh VPC with one subnet; returns (vpc, subnet) SDK objects."""
        vpc = self.vpc.create_vpc(vm.CreateVpcRequest(vm.CreateVpcRequestBody(
            vm.CreateVpcOption(cidr=cidr, name=uniq("vpc-"))))).vpc
        net = ipaddress.ip_network(subnet_cidr)
        sub = self.vpc.create_subnet(vm.CreateSubnetRequest(vm.CreateSubnetRequestBody(
            vm.CreateSubnetOption(name=uniq("sub-"), cidr=subnet_cidr, vpc_id=vpc.id,
                                  gateway_ip=str(net.network_address + 1))))).subnet
        return vpc, sub

    def server(self, vpc_id: str, subnet_id: str, ip: Optional[str] = None,
               security_groups: Optional[list[str]] = None) -> dict:
        nic: dict = {"subnet_id": subnet_id}
        if ip:
            nic["ip_address"] = ip
        body: dict = {"name": uniq("vm-"), "vpc_id": vpc_id, "nics": [nic]}
        if security_groups is not None:
            body["security_groups"] = security_groups
        return self.lab("POST", "servers", {"server": body})["server"]

    def loadbalancer(self, vpc_id: str, subnet_id: str, vip: Optional[str] = None) -> dict:
        body: dict = {"name": uniq("lb-"), "vpc_id": vpc_id, "subnet_id": subnet_id,
                      "listeners": [{"protocol": "TCP", "port": 80,
                                     "members": [{"address": "192.168.0.10", "port": 8080}]}]}
        if vip:
            body["vip_address"] = vip
        return self.lab("POST", "loadbalancers", {"loadbalancer": body})["loadbalancer"]

    def vm_backend(self, cidr: str = "10.20.0.0/16", subnet_cidr: str = "10.20.1.0/24"):
        """VPC + subnet + one lab server; returns (vpc_id, port_id) of the server's NIC."""
        vpc, sub = self.network(cidr, subnet_cidr)
        srv = self.server(vpc.id, sub.id)
        return vpc.id, srv["nics"][0]["port_id"]

    def create_service(self, vpc_id: str, port_id: str, name: Optional[str] = "", server_type: str = "VM",
                       ports=None, approval: Optional[bool] = False, **kw):
        """Create an endpoint service through the SDK; returns the SDK response."""
        if name == "":
            name = uniq("s")
        if ports is None:
            ports = [em.PortList(client_port=80, server_port=8080, protocol="TCP")]
        body = em.CreateEndpointServiceRequestBody(port_id=port_id, vpc_id=vpc_id, server_type=server_type,
                                                   service_name=name, approval_enabled=approval,
                                                   ports=ports, **kw)
        return self.vpcep.create_endpoint_service(em.CreateEndpointServiceRequest(body=body))

    def service(self, sid: str):
        return self.vpcep.list_service_details(em.ListServiceDetailsRequest(vpc_endpoint_service_id=sid))

    def endpoint(self, eid: str):
        return self.vpcep.list_endpoint_info_details(em.ListEndpointInfoDetailsRequest(vpc_endpoint_id=eid))

    def wait_service(self, sid: str, status: str, timeout: float = 10.0):
        return wait_for(lambda: (lambda s: s if s.status == status else None)(self.service(sid)),
                        timeout, what=f"service {sid} -> {status}")

    def wait_endpoint(self, eid: str, status: str, timeout: float = 10.0):
        return wait_for(lambda: (lambda e: e if e.status == status else None)(self.endpoint(eid)),
                        timeout, what=f"endpoint {eid} -> {status}")

    def wait_service_gone(self, sid: str, timeout: float = 10.0):
        def gone():
            try:
                self.service(sid)
                return False
            except ClientRequestException as e:
                assert e.status_code == 404, (e.status_code, e.error_code)
                return e
        return wait_for(gone, timeout, what=f"service {sid} gone")

    def wait_endpoint_gone(self, eid: str, timeout: float = 10.0):
        def gone():
            try:
                self.endpoint(eid)
                return False
            except ClientRequestException as e:
                assert e.status_code == 404, (e.status_code, e.error_code)
                return e
        return wait_for(gone, timeout, what=f"endpoint {eid} gone")

    def create_endpoint(self, service_id: str, vpc_id: str, subnet_id: str, **kw):
        body = em.CreateEndpointRequestBody(endpoint_service_id=service_id, vpc_id=vpc_id, subnet_id=subnet_id, **kw)
        return self.vpcep.create_endpoint(em.CreateEndpointRequest(body=body))

    def available_service(self, **kw):
        """A VM backend + service, waited to `available` (needs a running agent). Returns the detail."""
        vpc_id, port_id = self.vm_backend()
        sid = self.create_service(vpc_id, port_id, **kw).id
        return self.wait_service(sid, "available")

    def permit(self, sid: str, *perms: str):
        body = em.AddOrRemoveServicePermissionsRequestBody(permissions=list(perms), action="add",
                                                           permission_type="domainId")
        return self.vpcep.add_or_remove_service_permissions(
            em.AddOrRemoveServicePermissionsRequest(vpc_endpoint_service_id=sid, body=body))


# ---- the test agent -------------------------------------------------------------------------


class AgentClient:
    """Raw access to the agent protocol."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.token = token

    def _h(self, extra: Optional[dict] = None) -> dict:
        h = {"Authorization": f"Bearer {self.token}"}
        h.update(extra or {})
        return h

    def snapshot(self) -> dict:
        r = http_request(self.port, "GET", "/agent/v1/snapshot", headers=self._h())
        assert r.status == 200, (r.status, r.body[:300])
        return r.json

    def changes(self, after: int, timeout_ms: int = 250) -> RawResponse:
        return http_request(self.port, "GET", "/agent/v1/changes",
                            query=[("after", str(after)), ("timeout_ms", str(timeout_ms))], headers=self._h())

    def report(self, results: list[dict]) -> RawResponse:
        body = json.dumps({"agent": "pytest", "results": results}).encode()
        return http_request(self.port, "POST", "/agent/v1/reports", body=body,
                            headers=self._h({"Content-Type": "application/json"}))

    def object(self, kind: str, oid: str) -> Optional[dict]:
        for o in self.snapshot()["objects"]:
            if o["kind"] == kind and o["id"] == oid:
                return o
        return None

    def report_one(self, kind: str, oid: str, outcome: str, error_code: Optional[str] = None,
                   error_message: Optional[str] = None) -> RawResponse:
        """Report on one object at its current generation (a manual, synchronous agent step)."""
        o = self.object(kind, oid)
        assert o is not None, f"{kind} {oid} not in the agent snapshot"
        res: dict = {"kind": kind, "id": oid, "generation": o["generation"], "outcome": outcome}
        if error_code is not None:
            res["error_code"] = error_code
        if error_message is not None:
            res["error_message"] = error_message
        r = self.report([res])
        assert 200 <= r.status < 300, (r.status, r.body[:300])
        return r


class FakeAgent(threading.Thread):
    """Stands in for the data plane: applies `creating`, removes `deleting` endpoint services and
    endpoints. `fail[id] = (code, message)` makes it report `failed` for that object instead.
    `pause()` / `resume()` let a test observe intermediate states; resume re-snapshots."""

    KINDS = ("endpoint_service", "endpoint")

    def __init__(self, client: AgentClient):
        super().__init__(daemon=True, name="vpcep-test-agent")
        self.client = client
        self.fail: dict[str, tuple[str, str]] = {}
        self.errors: list[str] = []
        self.reported: list[dict] = []
        self._stop_evt = threading.Event()
        self._want_pause = threading.Event()
        self._paused = threading.Event()
        self._resume = threading.Event()
        self._done: set = set()
        self._resnap = True
        self._rev = 0

    def pause(self):
        self._resume.clear()
        self._want_pause.set()
        assert self._paused.wait(5), "agent did not pause"

    def resume(self):
        self._want_pause.clear()
        self._paused.clear()
        self._resnap = True
        self._resume.set()

    def stop(self):
        self._stop_evt.set()
        self._resume.set()
        self.join(5)

    def run(self):
        while not self._stop_evt.is_set():
            try:
                if self._want_pause.is_set():
                    self._paused.set()
                    self._resume.wait(0.2)
                    continue
                if self._resnap:
                    snap = self.client.snapshot()
                    self._rev = snap["revision"]
                    self._resnap = False
                    self._handle(snap["objects"])
                    continue
                r = self.client.changes(self._rev, 250)
                if r.status == 410:
                    self._resnap = True
                    continue
                if r.status != 200:
                    self.errors.append(f"changes: HTTP {r.status} {r.body[:200]!r}")
                    self._stop_evt.wait(0.2)
                    continue
                body = r.json
                if self._want_pause.is_set():
                    continue  # paused while polling: drop the batch, resume re-snapshots
                self._rev = body["revision"]
                self._handle([c["object"] for c in body["changes"] if c.get("object")])
            except Exception as e:  # noqa: BLE001 - surfaced by the fixture
                self.errors.append(repr(e))
                self._stop_evt.wait(0.2)

    def _handle(self, objects: list[dict]):
        results = []
        for o in objects:
            if o.get("kind") not in self.KINDS:
                continue
            status = (o.get("spec") or {}).get("status")
            key = (o["kind"], o["id"], o["generation"], status)
            if key in self._done:
                continue
            res: dict = {"kind": o["kind"], "id": o["id"], "generation": o["generation"]}
            if status == "creating":
                if o["id"] in self.fail:
                    code, msg = self.fail[o["id"]]
                    res.update(outcome="failed", error_code=code, error_message=msg)
                else:
                    res["outcome"] = "applied"
            elif status == "deleting":
                res["outcome"] = "removed"
            else:
                continue
            self._done.add(key)
            results.append(res)
        if results:
            r = self.client.report(results)
            if not 200 <= r.status < 300:
                self.errors.append(f"reports: HTTP {r.status} {r.body[:200]!r}")
            self.reported.extend(results)
