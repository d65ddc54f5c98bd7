"""A property-based run of the whole API over HTTP, generated from the OpenAPI document by schemathesis:
every operation of src/payment_processor/openapi.yaml against the served dev/alpha deployment (the
authorizer, the WAF rule and the processor as deployed), with valid and invalid inputs, and every
response checked against the document: no 5xx, and status code, content type, headers and body as it
describes them.

The run is deterministic (a fixed seed, no example database) and bounded (a fixed number of examples per
operation). Generated ids mostly name nothing, so half of the path ids and cursors are swapped for those of
payments and refunds made for the run, in each state the tokens of the sandbox acquirer lead to (and of a
webhook endpoint), and half of the payment bodies use those tokens (and half of the webhook endpoint bodies
a URL the local target takes): the success answers (captures, cancels, refunds, pages, endpoints) are
checked too. The tokens whose acquirer never answers are left out: they get a 503 by design, which the
`made` fixture checks against the document on its own. Requests go out with a secret key of the run's
merchant, a new key every `KEY_BUDGET` requests, so the run stays under the per-key rate limit (a 429
would still conform, but would test nothing else).

`test_the_checks_catch_a_defect` shows the checks catching what they are for: a response the document
describes passes, and the same response tampered with (or checked against a broken copy of the document)
fails the check it breaks.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import hypothesis.strategies as st
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, ServerError
from schemathesis.errors import FailureGroup
from schemathesis.openapi.checks import JsonSchemaError, MissingHeaders, UndefinedContentType, UndefinedStatusCode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from payments_cli.local.records import DeploymentRecord
from tests.emulator.conftest import Cli
from tests.emulator.test_security_http import new_key

# The first test of a session may deploy dev/alpha: minutes of real terraform, past the suite-wide 300 s.
pytestmark = [pytest.mark.emulator, pytest.mark.timeout(900)]

SPEC_PATH = str(resources.files("payment_processor") / "openapi.yaml")
#: Examples the fuzzing phase draws per operation (valid and invalid), on top of the examples phase (the
#: document's examples) and the coverage phase (boundary and missing values: 10 to 100 an operation).
MAX_EXAMPLES = 100
SEED = 20260101
#: Requests one key makes before the next: under the dev environment's 600 a minute per key.
KEY_BUDGET = 500
MERCHANT = "merch_fuzz"
#: What every answer must be as the document describes: status, content type, headers, body.
CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CHECKS = [not_a_server_error, *CONFORMANCE]


def config() -> schemathesis.Config:
    """Valid and invalid inputs, a fixed seed, no example database (nothing written to the work tree)."""
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        }
    )


schema = schemathesis.openapi.from_path(SPEC_PATH, config=config())
#: The document as loaded, for the broken copy of `test_the_checks_catch_a_defect`.
SPEC: dict[str, Any] = copy.deepcopy(schema.raw_schema)

#: Ids of objects the run made (payments, refunds, a webhook endpoint), filled by the `made` fixture before any
#: generation.
MADE: list[str] = []
#: Tokens of the sandbox acquirer (payment_processor.connectors.simulated) the generated bodies use half the time:
#: approved, declined, and those whose captures, cancels or refunds the acquirer refuses.
TOKENS = (
    "tok_visa",
    "tok_chargeDeclined",
    "tok_chargeDeclinedInsufficientFunds",
    "tok_captureRefused",
    "tok_partialCaptureRefused",
    "tok_cancelRefused",
    "tok_refundRefused",
)
#: Tokens whose acquirer does not answer (the payment, or its captures, cancels and refunds): the API then
#: answers 503 by design (`payment_processing`, `refund_processing`), so they are left out of the generated
#: requests, which must get no 5xx; the `made` fixture checks those 503s conform to the document.
UNANSWERED = ("tok_acquirerUnavailable", "tok_followUpsUnavailable")
CURSORS = ("starting_after", "ending_before")
#: Answers to the requests made from the document, by operation and status: printed at the end (`pytest -s`).
ANSWERS: Counter[tuple[str, int]] = Counter()


def _or_made(value: dict[str, Any] | None, keys: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any] | None]:
    """The generated value, or it with those of `keys` it has set to ids of objects the run made."""
    if not isinstance(value, dict):  # an invalid value of the negative phase
        return st.just(value)
    present = [key for key in keys if key in value]
    if not MADE or not present:
        return st.just(value)
    made = st.sampled_from(MADE).map(lambda made_id: {**value, **dict.fromkeys(present, made_id)})
    return st.one_of(st.just(value), made)


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    return _or_made(path_parameters, ("id",))


@schema.hook
def flatmap_query(
    context: schemathesis.HookContext, query: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    return _or_made(query, CURSORS)


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    label = None if context.operation is None else context.operation.label
    if not isinstance(body, dict) or label not in (
        "POST /payments",
        "POST /webhook_endpoints",
        "POST /events/{id}/redeliver",
    ):
        return st.just(body)
    if label == "POST /events/{id}/redeliver":  # the endpoint the run made, so that some are queued
        endpoints = [made for made in MADE if made.startswith("we_")]
        return st.one_of(st.just(body), st.sampled_from(endpoints).map(lambda we: {**body, "endpoint": we}))
    if label == "POST /webhook_endpoints":  # a URL the local target takes, so that some are made (up to 16)
        return st.one_of(st.just(body), st.just({**body, "url": "http://127.0.0.1:9/fuzz"}))
    tokens = st.sampled_from(TOKENS).map(lambda token: {**body, "currency": "EUR", "payment_method": token})
    return st.one_of(st.just(body), tokens)


@schema.hook
def after_call(
    context: schemathesis.HookContext, case: schemathesis.Case[Any], response: schemathesis.Response
) -> None:
    ANSWERS[(case.operation.label, response.status_code)] += 1


@dataclass
class KeyRing:
    """Secret keys of the run's merchant: a new one every `KEY_BUDGET` requests."""

    cli: Cli
    secrets: list[str] = field(default_factory=list)
    used: int = 0

    def headers(self) -> dict[str, str]:
        """The Authorization header of the next request."""
        if not self.secrets or self.used >= KEY_BUDGET:
            self.secrets.append(str(new_key(self.cli, MERCHANT)["secret"]))
            self.used = 0
        self.used += 1
        return {"Authorization": f"Bearer {self.secrets[-1]}"}


@dataclass
class Run:
    """What every request of the run shares: the stage URL, one connection pool and the keys."""

    url: str
    session: requests.Session
    keys: KeyRing

    def act(self, label: str, body: dict[str, Any], payment_id: str | None = None) -> schemathesis.Response:
        """One request the run makes itself, its answer checked against the document (a 503 may be one)."""
        method, path = label.split(" ", 1)
        case = schema[path][method].Case(
            path_parameters=None if payment_id is None else {"id": payment_id},
            headers={"Idempotency-Key": str(uuid.uuid4())},
            body=body,
            media_type="application/json",
        )
        response = case.call(base_url=self.url, session=self.session, headers=self.keys.headers(), timeout=30)
        case.validate_response(response, checks=CONFORMANCE)
        return response


@pytest.fixture(scope="module")
def run(cli: Cli, alpha: DeploymentRecord) -> Iterator[Run]:
    with requests.Session() as session:
        started = time.monotonic()
        yield Run(str(alpha["api"]["url"]), session, KeyRing(cli))
    print(f"\n{sum(ANSWERS.values())} requests from the document in {time.monotonic() - started:.0f} s:")
    for label in dict.fromkeys(label for label, _ in ANSWERS):
        statuses = sorted((status, n) for (other, status), n in ANSWERS.items() if other == label)
        print(f"  {label}: " + ", ".join(f"{status} x{n}" for status, n in statuses))


@pytest.fixture(scope="module")
def made(run: Run) -> list[str]:
    """Payments in every state, and refunds, for the generated requests to act on (requested by the run so
    that they exist before any request is generated)."""

    def pay(token: str, capture_method: str = "automatic", status: int = 201) -> str:
        body = {"amount": 2500, "currency": "EUR", "payment_method": token, "capture_method": capture_method}
        answer = run.act("POST /payments", body)
        assert answer.status_code == status, answer.text
        return "" if status == 503 else str(answer.json()["id"])  # a 503 names no payment

    def follow_up(payment_id: str, action: str, body: dict[str, Any], status: int) -> dict[str, Any]:
        answer = run.act(f"POST /payments/{{id}}/{action}", body, payment_id)
        assert answer.status_code == status, answer.text
        return dict(answer.json())

    for token, capture_method in itertools.product(TOKENS, ("automatic", "manual")):
        MADE.append(pay(token, capture_method, 402 if token.startswith("tok_chargeDeclined") else 201))
    captured, canceled = pay("tok_visa", "manual"), pay("tok_visa", "manual")
    follow_up(captured, "capture", {"amount": 1000}, 200)
    follow_up(canceled, "cancel", {"cancellation_reason": "abandoned"}, 200)
    refunded, partly, refused = pay("tok_visa"), pay("tok_visa"), pay("tok_refundRefused")
    MADE.extend([captured, canceled, refunded, partly, refused])
    follow_up(refunded, "refunds", {}, 201)
    MADE.append(follow_up(partly, "refunds", {"amount": 1000, "reason": "duplicate"}, 201)["id"])
    MADE.append(follow_up(refused, "refunds", {}, 402)["error"]["refund_id"])
    # A webhook endpoint, for the generated requests on /webhook_endpoints/{id} to read, change and delete.
    endpoint = run.act("POST /webhook_endpoints", {"url": "http://127.0.0.1:9/fuzz", "enabled_events": ["*"]})
    assert endpoint.status_code == 201, endpoint.text
    MADE.append(str(endpoint.json()["id"]))
    # Events, for GET /events/{id} and POST /events/{id}/redeliver.
    MADE.extend([f"{captured}:0001", f"{refunded}:0003"])
    # The acquirer's silence: 503s by design, not acted on by the generated requests.
    unanswered, follow_ups_unanswered = UNANSWERED
    pay(unanswered, status=503)
    follow_up(pay(follow_ups_unanswered, "manual"), "capture", {}, 503)
    follow_up(pay(follow_ups_unanswered), "refunds", {}, 503)
    return MADE


@schema.parametrize()
def test_every_operation_answers_as_documented(case: schemathesis.Case[Any], run: Run, made: list[str]) -> None:
    """No 5xx, and every answer (status, content type, headers, body) one the document describes."""
    case.call_and_validate(base_url=run.url, session=run.session, headers=run.keys.headers(), checks=CHECKS, timeout=30)


def _tampered(
    response: schemathesis.Response,
    *,
    status: int | None = None,
    body: object = None,
    headers: dict[str, str] | None = None,
    without: str | None = None,
) -> schemathesis.Response:
    """A copy of a served answer with its status, body or headers changed, or a header left out."""
    fields = {name: list(values) for name, values in response.headers.items()}
    fields.update({name.lower(): [value] for name, value in (headers or {}).items()})
    if without is not None:
        del fields[without.lower()]
    return schemathesis.Response(
        status_code=status or response.status_code,
        headers=fields,
        content=response.content if body is None else json.dumps(body).encode(),
        request=response.request,
        elapsed=response.elapsed,
        verify=response.verify,
        http_version=response.http_version,
        encoding=response.encoding,
    )


def test_the_checks_catch_a_defect(run: Run, made: list[str]) -> None:
    """Each check, on a served answer the document describes, then on that answer with one defect."""
    payment_id = made[0]
    case = schema["/payments/{id}"]["GET"].Case(path_parameters={"id": payment_id})
    served = case.call(base_url=run.url, session=run.session, headers=run.keys.headers(), timeout=30)
    assert served.status_code == 200, served.text
    case.validate_response(served, checks=CHECKS)  # the control: as served, it conforms

    def caught(response: schemathesis.Response, against: schemathesis.Case[Any] = case) -> set[type[Failure]]:
        """The kinds of failure the checks report (they must report one)."""
        with pytest.raises(FailureGroup) as failure:
            against.validate_response(response, checks=CHECKS)
        return {type(inner) for inner in failure.value.exceptions}

    payment = served.json()
    assert caught(_tampered(served, body={**payment, "amount": str(payment["amount"])})) == {JsonSchemaError}
    server_error = _tampered(served, status=500, body={"message": "Internal server error"})
    assert caught(server_error) == {ServerError, UndefinedStatusCode}
    assert caught(_tampered(served, status=418)) == {UndefinedStatusCode}
    assert caught(_tampered(served, headers={"Content-Type": "text/html"})) == {UndefinedContentType}

    # The same served answer against a copy of the document that says `amount` is a string.
    broken_spec = copy.deepcopy(SPEC)
    broken_spec["components"]["schemas"]["Payment"]["properties"]["amount"] = {"type": "string"}
    broken = schemathesis.openapi.from_dict(broken_spec, config=config())
    broken_case = broken["/payments/{id}"]["GET"].Case(path_parameters={"id": payment_id})
    assert caught(served, broken_case) == {JsonSchemaError}

    # A required response header: the 401 of a request without a key carries WWW-Authenticate.
    anonymous = case.call(base_url=run.url, session=run.session, timeout=30)
    assert anonymous.status_code == 401, anonymous.text
    case.validate_response(anonymous, checks=CHECKS)
    assert caught(_tampered(anonymous, without="WWW-Authenticate")) == {MissingHeaders}
