"""What both targets share: preparing a deployment (build the package, synthesize, preflight; ``prepare.py``),
running terraform with progress (``terraform.py``), and the state folder on this machine (``state.py``).

``payments_cli.local`` (moto and PostgreSQL on 127.0.0.1) and ``payments_cli.aws`` (a real account) are each
built on this layer; neither imports the other.
"""
