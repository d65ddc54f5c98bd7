"""Preflight: prove a deployment right before it touches an account.

Reads Terraform JSON (``cdk.tf.json`` or any ``*.tf.json``) and the plan JSON ``terraform show -json``
writes (``plan.py``), telling them apart by content; it never imports CDK or this project's infrastructure,
so it checks configurations written by hand, in HCL (through their plan) or by any tool. Each check is a
small pure function in ``preflight.checks``, declared in ``registry.py`` with an id, a title, a severity,
its defect class, the deploy failures it prevents (``failures.py``) and a rationale quoting the AWS or
Terraform error it avoids; checks across files (names two deployments would both create) see every file
of a run at once. ``runner.py`` runs them; ``loader.py`` (the input) depends on no check.
"""
