"""Schemathesis hooks for fuzzing `vpcep serve` (loaded through SCHEMATHESIS_HOOKS by fuzz.py).

* Every `/v1/...` request is signed with SDK-HMAC-SHA256 exactly as the official SDK signs it
  (reference §7): the query is rewritten to its canonical form (which is also what the SDK puts on
  the wire), then the canonical request over content-type, host, x-project-id and x-sdk-date is
  signed with the fuzzing account's SK. `/agent/v1/...` requests carry the agent bearer token.
* `project_id` is always the fuzzing account's project (any other is a plain 403), and other path
  ids and id-like body fields are, for two generated values out of three, replaced by ids of
  resources fuzz.py seeded, so operations reach existing objects instead of stopping at 404.
* Extra check `error_body_shape`: every 4xx/5xx body is the JSON `{"error_code","error_msg"}`.
* Every response is counted by status class; the counts go to $VPCEP_FUZZ_COUNTS at exit.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import hashlib
import hmac
import json
import os
import threading
import zlib
from collections import Counter
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

import requests
import schemathesis

AK = os.environ["VPCEP_FUZZ_AK"]
SK = os.environ["VPCEP_FUZZ_SK"]
PROJECT = os.environ["VPCEP_FUZZ_PROJECT"]
AGENT_TOKEN = os.environ["VPCEP_FUZZ_AGENT_TOKEN"]
with open(os.environ["VPCEP_FUZZ_SEEDS"]) as f:
    SEEDS: dict[str, list[str]] = json.load(f)

_lock = threading.Lock()
COUNTS: Counter = Counter()


def _dump_counts() -> None:
    path = os.environ.get("VPCEP_FUZZ_COUNTS")
    if path:
        with open(path, "w") as f:
            json.dump(dict(COUNTS), f)


atexit.register(_dump_counts)


# ---- signing ------------------------------------------------------------------------------


def _enc(s: str) -> str:
    return quote(s, safe="~")


class SdkHmacSha256(requests.auth.AuthBase):
    """Signs the prepared request, body and final URL included, as huaweicloudsdkcore does."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        url = urlsplit(r.url)
        pairs = parse_qsl(url.query, keep_blank_values=True)
        cquery = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(pairs))
        # The SDK sends exactly its canonical query string (§7.9); do the same.
        r.url = urlunsplit((url.scheme, url.netloc, url.path, cquery, ""))
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode()
        for name in [k for k in r.headers if k.lower() in ("authorization", "x-sdk-date", "host")]:
            del r.headers[name]
        r.headers["X-Sdk-Date"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        r.headers["Host"] = url.netloc
        r.headers["X-Project-Id"] = PROJECT
        signed = sorted(k.lower() for k in r.headers
                        if k.lower() in ("content-type", "host", "x-project-id", "x-sdk-date"))
        lower = {k.lower(): str(v).strip() for k, v in r.headers.items()}
        curi = "/".join(_enc(unquote(s)) for s in url.path.split("/"))
        if not curi.endswith("/"):
            curi += "/"
        cheaders = "".join(f"{k}:{lower[k]}\n" for k in signed)
        creq = "\n".join([r.method, curi, cquery, cheaders, ";".join(signed), hashlib.sha256(body).hexdigest()])
        sts = "\n".join(["SDK-HMAC-SHA256", r.headers["X-Sdk-Date"], hashlib.sha256(creq.encode()).hexdigest()])
        sig = hmac.new(SK.encode(), sts.encode(), hashlib.sha256).hexdigest()
        r.headers["Authorization"] = (f"SDK-HMAC-SHA256 Access={AK}, SignedHeaders={';'.join(signed)}, "
                                      f"Signature={sig}")
        return r


class AgentBearer(requests.auth.AuthBase):
    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {AGENT_TOKEN}"
        return r


@schemathesis.hook
def before_call(context, case, kwargs):
    # Steering happens here rather than in map_* hooks because this hook runs in every phase
    # (coverage cases are not generated through the map hooks).
    path = case.operation.path
    if isinstance(case.path_parameters, dict):
        case.path_parameters = steer_path(case.path_parameters, case.method.upper(), path)
    case.query = steer_query(case.query)
    if case.body is not None and not _is_not_set(case.body):
        case.body = _steer(case.body)
    if path == "/agent/v1/changes":
        case.query = short_poll(case.query)
    if path.startswith("/v1/"):
        kwargs["auth"] = SdkHmacSha256()
    elif path.startswith("/agent/"):
        kwargs["auth"] = AgentBearer()


def _is_not_set(value) -> bool:
    return type(value).__name__ == "NotSet"


@schemathesis.hook
def after_call(context, case, response):
    with _lock:
        COUNTS["requests"] += 1
        COUNTS[f"{response.status_code // 100}xx"] += 1


# ---- steering generated values to real objects ----------------------------------------------


def _seeded(name: str, generated) -> object:
    """A seeded id for `name`, chosen from the generated value (so Hypothesis replays the same
    request when it shrinks), or the generated value one time in three."""
    ids = SEEDS.get(name)
    if not ids:
        return generated
    h = zlib.crc32(repr(generated).encode())
    if h % 3 == 0:
        return generated
    return ids[h % len(ids)]


def steer_path(path_parameters: dict, method: str, case_path: str) -> dict:
    """DELETE operations get their own disposable objects (`delete:<name>` seeds) so they do not
    remove the objects every other operation is steered to."""
    out = dict(path_parameters)
    for name, value in out.items():
        if name == "project_id":
            out[name] = PROJECT
        elif method == "DELETE" and not case_path.endswith("/policy") and f"delete:{name}" in SEEDS:
            out[name] = _seeded(f"delete:{name}", value)
        else:
            out[name] = _seeded(name, value)
    return out


# Query filters that name a resource, and which seeded values fit them.
QUERY_IDS = {
    "vpc_id": "vpc_id",
    "network_id": "subnet_id",
    "security_group_id": "security_group_id",
    "device_id": "server_id",
    "endpoint_service_name": "service_name",
    "id": "any_id",
}


def steer_query(query):
    if not isinstance(query, dict):
        return query
    return {k: (_seeded(QUERY_IDS[k], v) if k in QUERY_IDS and isinstance(v, str) else v)
            for k, v in query.items()}


# Body fields that name another resource, and which seeded ids fit them.
BODY_IDS = {
    "vpc_id": "vpc_id",
    "subnet_id": "subnet_id",
    "network_id": "subnet_id",
    "port_id": "port_id",
    "endpoint_service_id": "vpc_endpoint_service_id",
    "security_group_id": "security_group_id",
    # `permissions[].id` (batch-delete) and `connections[].id` (connection descriptions).
    "id": "any_id",
}


def _steer(obj, depth: int = 0):
    if depth > 3:
        return obj
    if isinstance(obj, dict):
        return {k: (_seeded(BODY_IDS[k], v) if k in BODY_IDS and isinstance(v, str) else _steer(v, depth + 1))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_steer(v, depth + 1) for v in obj]
    return obj


def short_poll(query):
    """A long-poll on an idle feed waits `timeout_ms` (30 s when absent or unparsable): keep every
    request short."""
    query = dict(query) if isinstance(query, dict) else {}
    t = query.get("timeout_ms")
    if not (isinstance(t, int) and 0 <= t <= 50):
        query["timeout_ms"] = 0
    return query


# ---- checks ---------------------------------------------------------------------------------


@schemathesis.check
def error_body_shape(ctx, response, case):
    """Every error answer is Huawei's `{"error_code": str, "error_msg": str}` as JSON."""
    if response.status_code < 400:
        return None
    ctype = response.headers.get("content-type", [""])
    ctype = ctype[0] if isinstance(ctype, list) else ctype
    if not ctype.startswith("application/json"):
        raise AssertionError(f"error {response.status_code} with Content-Type {ctype!r}: {response.text[:200]!r}")
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(f"error {response.status_code} body is not JSON: {response.text[:200]!r}") from None
    if not (isinstance(body, dict) and isinstance(body.get("error_code"), str)
            and isinstance(body.get("error_msg"), str)):
        raise AssertionError(f"error {response.status_code} body is not {{error_code, error_msg}}: "
                             f"{response.text[:200]!r}")
    return None
