"""``python -m payment_processor.deliver``: the old name of ``python -m payment_processor.reconcile``, kept for
one release so operators' scripts keep working."""

from __future__ import annotations

import sys

from payment_processor.reconcile import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
