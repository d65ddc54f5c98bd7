"""Infrastructure of the payment platform: environments, naming, constructs, stacks, the Lambda build.

Importing CDK starts jsii's Node.js runtime, which prints a large end-of-life banner on Node 20 (the
version this project's machines have) to every command's stderr; this silences that banner only.
"""

import os

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
