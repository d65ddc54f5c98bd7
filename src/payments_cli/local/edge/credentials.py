"""What the edge keeps of a credential it counts or caches by: a fingerprint, for a bounded number of them."""

from __future__ import annotations

import hashlib


def fingerprint(credential: str) -> str:
    """What the server keeps of a credential to count or cache by: its SHA-256, never the secret itself."""
    return hashlib.sha256(credential.encode("utf-8", "surrogatepass")).hexdigest()


#: The most credentials the local edge keeps an answer or a count for at once (API Gateway's and WAF's own
#: memory is theirs; this process's is not unbounded).
MAX_KEPT = 10_000
