"""Webhooks: events pushed to merchants' endpoints, signed as the Standard Webhooks specification says.

- :mod:`signing`: secrets and the ``webhook-*`` headers (a merchant verifies with any Standard Webhooks library);
- :mod:`addresses`: which URLs and addresses the sender may reach (SSRF), checked where the connection is made;
- :mod:`schedule`: when a failed delivery is tried again, and when an endpoint is given up on;
- :mod:`sender`: one delivery attempt over HTTP, to the address that was checked, classified for the merchant;
- :mod:`deliveries`: what an attempt does to its delivery (retry, give up) and its endpoint (disable);
- :mod:`endpoints`: what an endpoint is, the events it may ask for, the requests that make and change one;
- :mod:`secrets`: signing secrets sealed with KMS, bound to their endpoint;
- :mod:`service`: the endpoints API's operations, idempotent like the payment routes.
"""
