"""The served /openapi.json is a valid OpenAPI 3.1 document (openapi-spec-validator), so code
generators and fuzzers (tests/fuzz) accept every operation in it."""

from __future__ import annotations

import json

from openapi_spec_validator import OpenAPIV31SpecValidator

from support import http_request


def _document(server) -> dict:
    r = http_request(server.port, "GET", "/openapi.json")
    assert r.status == 200, r.body[:500]
    return json.loads(r.body)


def test_openapi_document_is_valid(server):
    doc = _document(server)
    assert doc["openapi"].startswith("3.1")
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
              for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert not errors, f"{len(errors)} validation errors, first ones:\n" + "\n".join(errors[:10])


def test_every_parameter_has_a_schema_and_lists_document_their_filters(server):
    doc = _document(server)
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for p in op.get("parameters", []):
                assert "schema" in p or "content" in p, f"{method.upper()} {path}: {p['name']} has no schema"
    params = {p["name"]: p for p in doc["paths"]["/v1/{project_id}/vpc-endpoints"]["get"]["parameters"]}
    assert {"limit", "offset", "sort_key", "sort_dir", "endpoint_service_name", "vpc_id", "id"} <= set(params)
    assert params["sort_dir"]["schema"]["enum"] == ["asc", "desc"]
