"""IAM policy documents as data: a small builder over ``aws_iam_policy_document``, and grants.

Policies are synthesized as structured ``data.aws_iam_policy_document`` blocks, not JSON strings, so
every action and resource stays readable in ``cdk.tf.json`` (for reviewers and for preflight).

A grant comes from the resource (``bucket.grant_put``, ``secret.grant_read``, ``queue.grant_send``), as AWS
CDK's do (``aws-s3/lib/bucket-grants.ts``: ``grantPut`` grants the bucket's key too), and it carries everything
the access needs: the resource's own statements and, for data encrypted with the deployment's KMS key, what
that takes of the key. Without the key's part the call fails at run time, not at deploy time ("AccessDenied
... is not authorized to perform: kms:GenerateDataKey"). ``grant_statements`` lays a role's grants out as
statements, the key's needs of them all in one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cdktn_aws import iam
from constructs import Construct


@dataclass(frozen=True)
class Statement:
    """One policy statement."""

    sid: str
    actions: Sequence[str]
    resources: Sequence[str] = ("*",)
    effect: str = "Allow"
    principals: Sequence[tuple[str, Sequence[str]]] = ()
    # (test, variable, values)
    conditions: Sequence[tuple[str, str, Sequence[str]]] = field(default_factory=tuple)


#: The key actions a grant may need through a service, in the order a merged statement lists them.
KEY_ACTIONS = ("kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt")


@dataclass(frozen=True)
class KeyUse:
    """What reaching data encrypted with a KMS key takes of the key: ``actions`` that the service ``via``
    (``s3.<region>.amazonaws.com``) calls on the caller's behalf (``kms:ViaService``). No ``actions``: the access
    names encrypted data without opening it (a listing)."""

    key_arn: str
    via: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Grant:
    """Everything one access needs: the resource's own statements, and what it takes of the KMS key the resource
    is encrypted with (None: the resource is not encrypted with one, or the grant is the key's own)."""

    statements: tuple[Statement, ...]
    key: KeyUse | None = None


def grant_statements(grants: Sequence[Grant], *, key_sid: str | None = None) -> list[Statement]:
    """The statements of ``grants``, in order, and one statement ``key_sid`` for everything they take of the key:
    the union of their key actions through the union of their services, placed after the last grant on data the
    key encrypts. One statement, not one per grant, keeps a role's policy short; the product it allows (a data key
    through Secrets Manager for a role that writes S3 objects and only reads secrets) is usable only by a call the
    role holds no grant for, since a service asks KMS on the caller's behalf only within a call the caller made."""
    uses = [grant.key for grant in grants if grant.key is not None]
    statements = [statement for grant in grants for statement in grant.statements]
    if not uses:
        return statements
    keys = {use.key_arn for use in uses}
    if len(keys) != 1 or key_sid is None:
        raise ValueError(f"grants on data encrypted with {len(keys)} keys need one key statement id, got {key_sid!r}")
    actions = {action for use in uses for action in use.actions}
    if not actions <= set(KEY_ACTIONS):
        raise ValueError(f"unknown key actions: {sorted(actions - set(KEY_ACTIONS))}")
    key = Statement(
        sid=key_sid,
        actions=[action for action in KEY_ACTIONS if action in actions],
        resources=[keys.pop()],
        conditions=[("StringEquals", "kms:ViaService", sorted({use.via for use in uses if use.actions}))],
    )
    last = max(index for index, grant in enumerate(grants) if grant.key is not None)
    at = sum(len(grant.statements) for grant in grants[: last + 1])
    return [*statements[:at], key, *statements[at:]]


def policy_document(scope: Construct, id_: str, statements: Sequence[Statement]) -> iam.DataAwsPolicyDocument:
    """A ``data.aws_iam_policy_document`` holding ``statements``."""
    return iam.DataAwsPolicyDocument(
        scope,
        id_,
        statement=[
            iam.DataAwsPolicyDocument.StatementProperty(
                sid=s.sid,
                effect=s.effect,
                actions=list(s.actions),
                resources=list(s.resources) or None,
                principals=[
                    iam.DataAwsPolicyDocument.PrincipalsProperty(type=kind, identifiers=list(ids))
                    for kind, ids in s.principals
                ]
                or None,
                condition=[
                    iam.DataAwsPolicyDocument.ConditionProperty(test=test, variable=variable, values=list(values))
                    for test, variable, values in s.conditions
                ]
                or None,
            )
            for s in statements
        ],
    )


def trust_policy(
    scope: Construct,
    id_: str,
    *,
    sid: str,
    service: str,
    conditions: Sequence[tuple[str, str, Sequence[str]]] = (),
) -> iam.DataAwsPolicyDocument:
    """The assume-role policy of a role that the AWS ``service`` (``lambda.amazonaws.com``, …) assumes."""
    return policy_document(
        scope,
        id_,
        [
            Statement(
                sid=sid,
                actions=["sts:AssumeRole"],
                resources=[],
                principals=[("Service", [service])],
                conditions=conditions,
            )
        ],
    )
