"""Acquirers behind one interface (logic layer).

- ``outcomes``   the one taxonomy every connector answers in: approved, declined, requires action, refused
                 (nothing processed: safe to try elsewhere), unknown (ask again, same key, same acquirer).
- ``base``       the interface: authorize, capture, cancel, increment, refund; the journal a connector keeps
                 its acquirer's references in before it moves money.
- ``simulated``  the deterministic test-mode acquirer (documented test tokens).
- ``stripe``     Stripe's PaymentIntents and Refunds through the official library.
"""
