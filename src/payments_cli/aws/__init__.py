"""The aws target: the synthesized stacks applied to a real account (``target.py``), on ``payments_cli.deploy``."""
