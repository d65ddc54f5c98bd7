"""``python -m payment_processor.deliver``: drain the transaction-log outbox now.

The same work as the scheduled ``handler.deliver`` function, for operators and the local target.
Prints a JSON report; exits 0 when the outbox is drained, 1 when events remain pending.
"""

from __future__ import annotations

import json
import sys

from payment_processor import handler


def main() -> int:
    """Run one delivery pass and report."""
    result = handler.deliver({}, None)
    print(json.dumps(result))
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
