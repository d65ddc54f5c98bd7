"""The Lambda runtime of the local target: each deployed function run from its deployed zip, as Lambda runs it.

``interpreter.py`` finds the function's runtime (CPython 3.12); ``package.py`` finds the zip the emulator holds
for a function and unpacks it as into /var/task; ``workers.py`` keeps each function's warm execution environments
(one process each, one event at a time, the function's timeout); ``lambda_worker.py`` is what runs inside one;
``functions.py`` reads a deployment's functions back from the emulator; ``queues.py`` and ``scheduler.py`` are the
event sources (SQS event source mappings, EventBridge schedules) that invoke them. The HTTP side is
``local.edge``.
"""
