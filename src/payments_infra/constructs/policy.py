"""IAM policy documents as data: a small builder over ``aws_iam_policy_document``.

Policies are synthesized as structured ``data.aws_iam_policy_document`` blocks, not JSON strings, so
every action and resource stays readable in ``cdk.tf.json`` (for reviewers and for preflight).
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
