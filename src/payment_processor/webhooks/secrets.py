"""Webhook signing secrets, sealed with KMS (data access).

A secret is stored only as the ciphertext of ``kms:Encrypt`` under the deployment's key, with the encryption
context ``{"purpose": "webhook-secret", "webhook_endpoint": <id>}``: the ciphertext opens only for that
endpoint (a row's sealed secret copied onto another endpoint does not decrypt), and the processor's role may
use the key only with that purpose (its IAM condition on ``kms:EncryptionContext:purpose``), so it cannot
decrypt the database's or the bucket's data keys with it. KMS rather than a key of our own in Secrets
Manager: nothing that could decrypt a secret ever sits in the function's memory for longer than one call,
and every decryption is in CloudTrail.

The one answer that shows a secret is kept under its Idempotency-Key, for a retry to get the same answer; it
is kept with the secret replaced by its sealed form (:func:`sealed_answer`), and a replay opens it again.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Final, Protocol

#: The encryption context's purpose: the processor's and the sender's IAM conditions name it.
PURPOSE: Final = "webhook-secret"
#: A sealed secret inside a stored answer: ``"secret":"sealed:<base64 ciphertext>"``.
_SEALED_PREFIX: Final = "sealed:"
_SEALED_IN_ANSWER: Final = re.compile(r'"secret":"sealed:([A-Za-z0-9+/=]+)"')


class SecretBox(Protocol):
    """Seals and opens one endpoint's secrets."""

    def seal(self, endpoint_id: str, secret: str) -> bytes:
        """The ciphertext of ``secret``, bound to ``endpoint_id``."""
        ...

    def open(self, endpoint_id: str, sealed: bytes) -> str:
        """The secret ``sealed`` holds; an error when it was not sealed for ``endpoint_id``."""
        ...


class KmsSecretBox:
    """A SecretBox on KMS: one ``Encrypt`` to seal, one ``Decrypt`` to open."""

    def __init__(self, kms: Any, key_id: str) -> None:
        self._kms = kms
        self._key_id = key_id

    def seal(self, endpoint_id: str, secret: str) -> bytes:
        answer = self._kms.encrypt(
            KeyId=self._key_id, Plaintext=secret.encode("ascii"), EncryptionContext=context(endpoint_id)
        )
        return bytes(answer["CiphertextBlob"])

    def open(self, endpoint_id: str, sealed: bytes) -> str:
        # KeyId is given so that a ciphertext of another key (one a row was tampered with) is refused.
        answer = self._kms.decrypt(CiphertextBlob=sealed, KeyId=self._key_id, EncryptionContext=context(endpoint_id))
        return bytes(answer["Plaintext"]).decode("ascii")


def context(endpoint_id: str) -> dict[str, str]:
    """The encryption context every secret of ``endpoint_id`` is sealed under."""
    return {"purpose": PURPOSE, "webhook_endpoint": endpoint_id}


def sealed_answer(body: str, secret: str, sealed: bytes) -> str:
    """``body`` (an answer's JSON text holding ``secret``) with the secret replaced by its sealed form."""
    shown = f'"secret":"{secret}"'
    if body.count(shown) != 1:
        raise ValueError("the answer does not show the secret exactly once")
    return body.replace(shown, f'"secret":"{_SEALED_PREFIX}{base64.b64encode(sealed).decode("ascii")}"')


def opened_answer(body: str, endpoint_id: str, box: SecretBox) -> str:
    """A stored answer as first sent: its sealed secret (if it has one) opened again."""
    found = _SEALED_IN_ANSWER.search(body)
    if found is None:
        return body
    secret = box.open(endpoint_id, base64.b64decode(found.group(1)))
    return body[: found.start()] + f'"secret":"{secret}"' + body[found.end() :]
