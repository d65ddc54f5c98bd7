"""Grants come from the resource and carry what the access takes of the deployment's key (policy.Grant), and a
role's statements hold the key's part of them all in one statement (policy.grant_statements)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cdktn import App, TerraformStack

from payments_infra.constructs.connector_secrets import ConnectorSecrets
from payments_infra.constructs.database import Database
from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.network import Network
from payments_infra.constructs.policy import Grant, KeyUse, Statement, grant_statements
from payments_infra.constructs.secret import Secret
from payments_infra.constructs.state_backend import StateStore
from payments_infra.constructs.transaction_log import TransactionLogBucket
from payments_infra.constructs.webhook_queues import WebhookQueues
from payments_infra.environments import get_environment
from payments_infra.naming import Naming

KEY = "arn:aws:kms:us-east-1:111122223333:key/k"
S3, SECRETS = "s3.us-east-1.amazonaws.com", "secretsmanager.us-east-1.amazonaws.com"


def _grant(sid: str, via: str | None = None, *actions: str) -> Grant:
    return Grant((Statement(sid=sid, actions=["x:Y"]),), KeyUse(KEY, via, actions) if via else None)


def test_the_key_statement_follows_the_last_grant_on_encrypted_data_with_the_union_of_their_needs() -> None:
    statements = grant_statements(
        [
            _grant("ReadSecret", SECRETS, "kms:Decrypt"),
            _grant("WriteObjects", S3, "kms:GenerateDataKey", "kms:Decrypt"),
            # A listing names encrypted objects without opening them: it places the statement, adds no service.
            _grant("ListObjects", S3),
            _grant("SendMessages"),  # SSE-SQS: no key of ours
        ],
        key_sid="UseTheKey",
    )
    assert [s.sid for s in statements] == ["ReadSecret", "WriteObjects", "ListObjects", "UseTheKey", "SendMessages"]
    key = statements[3]
    assert list(key.actions) == ["kms:GenerateDataKey", "kms:Decrypt"] and list(key.resources) == [KEY]
    assert list(key.conditions) == [("StringEquals", "kms:ViaService", [S3, SECRETS])]


def test_grants_needing_nothing_of_a_key_are_their_statements_alone() -> None:
    assert [s.sid for s in grant_statements([_grant("A"), _grant("B")])] == ["A", "B"]


@pytest.mark.parametrize(
    ("grants", "key_sid", "message"),
    [
        ([_grant("A", S3, "kms:Decrypt")], None, "need one key statement id"),  # whose statement would it be?
        ([_grant("A", S3, "kms:Decrypt"), Grant((), KeyUse("arn:other", S3, ("kms:Decrypt",)))], "K", "2 keys"),
        ([_grant("A", S3, "kms:ReEncryptFrom")], "K", "unknown key actions"),
    ],
)
def test_a_key_statement_that_cannot_be_written_is_refused(
    grants: list[Grant], key_sid: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        grant_statements(grants, key_sid=key_sid)


@dataclass(frozen=True)
class Resources:
    """The resources that grant, in a stack of their own (dev)."""

    key: EncryptionKey
    bucket: TransactionLogBucket
    state: StateStore
    secret: Secret
    connectors: ConnectorSecrets
    queues: WebhookQueues
    database: Database


@pytest.fixture(scope="module")
def resources() -> Resources:
    config, naming = get_environment("dev"), Naming("dev", "pr42")
    stack = TerraformStack(App(stack_traces=False), "grants")
    key = EncryptionKey(stack, "encryption", config=config, naming=naming)
    network = Network(stack, "network", config=config, naming=naming)
    return Resources(
        key=key,
        bucket=TransactionLogBucket(stack, "transaction-log", config=config, naming=naming, key=key),
        state=StateStore(stack, "state", name=naming.state_bucket(), force_destroy=config.bucket_force_destroy),
        secret=Secret(stack, "secret", config=config, naming=naming, key=key, purpose="p", description="d"),
        connectors=ConnectorSecrets(stack, "connectors", naming=naming, key=key),
        queues=WebhookQueues(stack, "queues", config=config, naming=naming),
        database=Database(stack, "database", config=config, naming=naming, key=key, network=network),
    )


def test_each_resource_grants_what_it_takes_of_its_key(resources: Resources) -> None:
    r, key = resources, resources.key.arn
    put, decrypt = ("kms:GenerateDataKey", "kms:Decrypt"), ("kms:Decrypt",)
    expected = {
        "put events": (r.bucket.grant_put_events("S"), KeyUse(key, S3, put)),
        "put audit": (r.bucket.grant_put_audit("S"), KeyUse(key, S3, put)),
        "list events": (r.bucket.grant_list_events("S"), KeyUse(key, S3, ())),
        "read": (r.secret.grant_read("S"), KeyUse(key, SECRETS, decrypt)),
        "write": (r.secret.grant_write("S"), KeyUse(key, SECRETS, put)),
        "read connectors": (r.connectors.grant_read("S"), KeyUse(key, SECRETS, decrypt)),
        "manage connectors": (r.connectors.grant_manage("S"), KeyUse(key, SECRETS, ("kms:GenerateDataKey",))),
        "admin login": (r.database.grant_admin_login("S"), KeyUse(key, SECRETS, decrypt)),
        # SSE-S3 and SSE-SQS: the services' own keys, nothing of ours to grant.
        "state": (r.state.grant_put("S", prefix="p/"), None),
        "send": (r.queues.attempts.grant_send("S"), None),
        "consume": (r.queues.results.grant_consume("S"), None),
    }
    for what, (grant, key_use) in expected.items():
        assert grant.key == key_use, what
        assert [s.sid for s in grant.statements] == ["S"], what
