"""The console in a real browser: Debian's chromium, headless, driven by Playwright, against `payments console` on
the deployed dev/alpha local target. An operator's afternoon: open the printed address, watch the overview count
the payments made meanwhile, find a payment and open its timeline, create a key and revoke it, look at the
deployment. Every page is
checked with axe-core (no serious or critical violation) and saved as a screenshot under test-artifacts/console/
(the new key's secret masked)."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from payments_cli.local.records import DeploymentRecord
from tests.emulator.conftest import Cli
from tests.emulator.test_security_http import Client, new_key, pay
from tests.local_target import console_process

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
#: Where the screenshots go (kept after the run; CI keeps the folder as the run's artifacts).
ARTIFACTS = ROOT / "test-artifacts" / "console"
AXE = ROOT / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: `apt-get install chromium` (.ci/run installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def console_url(cli: Cli, alpha: DeploymentRecord) -> Iterator[str]:
    with console_process(cli, "alpha") as (_, url):
        yield url


def accessible(page: Any, name: str) -> None:
    """axe-core over the page as it stands: no serious or critical violation. The screenshot is kept."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, mask=[page.locator("input.secret")])
    page.evaluate(AXE.read_text())
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{name}: {bad}"


def succeeded_in_the_last_hour(page: Any) -> int:
    text = page.locator("#hour-heading + .totals .succeeded").inner_text()
    match = re.match(r"(\d+) succeeded", text)
    assert match, text
    return int(match.group(1))


def test_an_operator_follows_payments_and_manages_a_key_in_the_browser(
    cli: Cli, alpha: DeploymentRecord, console_url: str, browser: Any
) -> None:
    assert AXE.exists(), f"axe-core is missing at {AXE}: `make .venv/.installed` installs it"
    api = Client(str(alpha["api"]["url"]))
    merchant = f"merch_browser_{uuid.uuid4().hex[:8]}"
    secret = str(new_key(cli, merchant)["secret"])

    def pay_once(amount: int) -> str:
        status, _, payment = api.call("POST", "/payments", secret=secret, key=str(uuid.uuid4()), body=pay(amount))
        assert status == 201
        return str(payment["id"])

    made = [pay_once(1200), pay_once(3400)]
    # axe runs in the page: the context lets it past the console's CSP (which the HTTP tests hold to no script).
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console_url.split("/?", 1)[0])
    page = context.new_page()
    page.goto(console_url)
    assert page.url.endswith("/overview") and page.title().startswith("Overview")
    accessible(page, "overview")
    before = succeeded_in_the_last_hour(page)
    made.append(pay_once(5600))
    page.reload()
    assert succeeded_in_the_last_hour(page) == before + 1, "the overview counts the payment just made"
    assert page.locator("svg.chart rect.succeeded").count() >= 1

    page.get_by_role("link", name="Payments").click()
    page.get_by_label("Merchant").fill(merchant)
    page.get_by_role("button", name="Search").click()
    rows = page.locator("#results tbody tr")
    assert rows.count() == 3
    assert page.locator("#results tbody tr td:first-child").all_inner_texts() == made[::-1]
    accessible(page, "payments")
    page.get_by_role("link", name=made[0]).click()
    assert page.locator("#status").inner_text() == "succeeded"
    assert "payment.succeeded" in page.locator("#events").inner_text()
    assert "12.00 EUR" in page.locator("#summary").inner_text()
    accessible(page, "payment-timeline")

    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Merchant").fill(merchant)
    page.get_by_role("button", name="Create key").click()
    shown = page.locator("input.secret").input_value()
    assert re.fullmatch(r"sk_test_[0-9A-Za-z]{43}", shown)
    page.get_by_role("button", name="Copy").click()
    page.locator("#secret-copied").get_by_text("Copied.").wait_for(timeout=5000)
    assert page.evaluate("navigator.clipboard.readText()") == shown, "the copy button put the secret on the clipboard"
    accessible(page, "keys-created")
    created = re.search(r"Key (key_[a-z2-7]{26}) created", page.locator("#created-heading").inner_text())
    assert created
    page.goto(console_url.split("/?", 1)[0] + "/keys")
    assert shown not in page.content(), "the secret is shown once"
    page.locator(f'a[href="/keys/{created.group(1)}/revoke"]').click()
    accessible(page, "key-revoke-confirm")
    page.get_by_role("button", name=f"Revoke {created.group(1)}").click()
    assert f"Key {created.group(1)} revoked" in page.locator("#revoked").inner_text()

    page.get_by_role("link", name="Webhooks").click()
    assert page.title().startswith("Webhooks")
    accessible(page, "webhooks")

    page.get_by_role("link", name="Deployment").click()
    assert page.locator("#preflight").inner_text().startswith("0 error(s)")
    accessible(page, "deployment")
    context.close()
