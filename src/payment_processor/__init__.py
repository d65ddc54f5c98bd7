"""The payment processor: the code that runs inside the Lambda function behind ``POST /payments``.

Layers, outermost first (each module says which one it is):

- ``handler``     Lambda entry point: API Gateway proxy event v1 in, proxy response out.
- ``api``         HTTP concerns: routing, headers, body limits, error envelopes.
- ``service``     payment logic: the merchant API's operations (``operations``: one protocol for all).
- ``connectors``  the acquirers behind one interface and one outcome taxonomy (the simulated one, Stripe).
- ``store``       data access behind small interfaces: PostgreSQL for real, in-memory fakes for tests.
- ``txlog``       the S3 transaction log and the outbox delivery that feeds it.

This package never imports CDK: it is what gets zipped for Lambda.
"""
