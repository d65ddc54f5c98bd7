"""The operations that move money: create, confirm (3-D Secure), capture, cancel, refund, increment an authorization.

Every one follows one protocol, written once in :mod:`payment_processor.operations.driver`:

1. **claim** the Idempotency-Key and **record** what is about to be asked of the acquirer, in one
   transaction (a refusal, 404/409/422, rolls the claim back: it keeps no key);
2. **ask** the acquirer under the record's own acquirer idempotency key, with no transaction open;
3. **apply** the answer once, under the row lock, and store the exact response under the key.

A replay answers the stored bytes; a retry of an operation still waiting asks again under the same acquirer
key; the scheduled job does the same for operations left waiting (with one backoff, and a give-up policy
where an operation has one). Each operation is a module that supplies only its steps and its validation.
"""

from payment_processor.operations.driver import RESOLVE_AFTER_S, Outcome

__all__ = ["RESOLVE_AFTER_S", "Outcome"]
