"""Preflight: prove a synthesized deployment right before it touches an account.

Reads Terraform JSON (``cdk.tf.json`` or any ``*.tf.json``) and nothing else: it never imports CDK,
so it checks configurations written by hand or by any tool. Each check is a small pure function in
``preflight.checks``, registered with an id, a title, a severity, the defect class it prevents and a
rationale quoting the AWS or Terraform error it avoids.
"""
