"""Unit-test wiring: the real API and service over in-memory fakes (no I/O)."""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass

import pytest
from aws_lambda_powertools import Logger

from payment_processor.api import Api
from payment_processor.connectors.simulated import SimulatedAcquirer
from payment_processor.service import PaymentService
from payment_processor.txlog import OutboxDelivery
from tests.fakes.memory_sink import MemorySink
from tests.fakes.memory_store import InMemoryStore


@dataclass
class App:
    """An Api over fakes, with handles on the fakes and the captured log."""

    api: Api
    service: PaymentService
    store: InMemoryStore
    sink: MemorySink
    log: io.StringIO


@pytest.fixture
def app() -> App:
    """A fresh in-memory application."""
    store = InMemoryStore()
    sink = MemorySink()
    service = PaymentService(store, SimulatedAcquirer(), OutboxDelivery(store, sink))
    log = io.StringIO()
    # Powertools keeps one stdlib logger per service name: a fresh name gets a fresh handler.
    logger = Logger(service=f"payment-processor-test-{uuid.uuid4().hex}", logger_handler=logging.StreamHandler(log))
    return App(Api(service, logger), service, store, sink, log)
