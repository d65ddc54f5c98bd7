"""The console's WSGI application: routes, who may ask (``sessions``), security headers, the pages.

Routes:
- ``GET /?token=…``: the one-time token for a session cookie, then a redirect to the overview (the token leaves
  the address bar). ``GET /`` with a session: the overview; without: 401.
- ``GET /overview``: payments by outcome (charted), the authorization rate, work in hand, failing webhooks.
- ``GET /payments``: search by id, merchant, status, amount and time range, a page at a time.
- ``GET /payments/<id>``: one payment's timeline: events (and whether each is in S3), attempts, refunds, a
  capture or cancel in flight, webhook deliveries, the answers stored under its idempotency keys.
- ``GET /static/console.css``: the one stylesheet.
- ``GET /keys``: merchants' API keys (redacted, created, last used, expiry, revoked) and a form to create one;
  ``POST /keys`` creates it and shows its secret this once; ``GET /keys/<id>/revoke`` asks to confirm and
  ``POST /keys/<id>/revoke`` revokes. Each change is the admin function's, recorded in its audit log as the
  operator running the console.
- ``GET /webhooks``: every merchant's webhook endpoints (where they send, never a URL's user part or query) and
  their deliveries by status; ``GET /webhooks/<id>``: an endpoint's last 100 attempts, each event with a
  button that queues it once more (``POST /webhooks/<id>/redeliver``, audited as the operator's).
- ``GET /deployment``: the environment's data, the last deploy, outputs, resources by type, and what preflight
  says about the applied stack (read from this machine: see ``deployment``).
- ``POST /logout``: sign out (same origin and the CSRF token, as every state-changing request).

Every answer carries a Content-Security-Policy that allows no inline script, one script file of the console's own
(the copy button) and nothing from elsewhere, and is never cached. A request whose ``Host`` is not the console's
own address is refused (a DNS-rebinding page cannot borrow the operator's session).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from payment_processor.currency import lookup
from payments_cli.console import chart
from payments_cli.console.alarms import AlarmsUnavailable
from payments_cli.console.sessions import COOKIE, SESSION_S, Session, Sessions, csrf_matches, same_origin

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
STYLESHEET = (resources.files("payments_cli.console") / "static" / "console.css").read_bytes()
#: The one script: the copy button of a new key's secret (no inline script runs anywhere).
SCRIPT = (resources.files("payments_cli.console") / "static" / "copy.js").read_bytes()

#: One action of the deployment's admin function (payments_cli.commands.common.invoke_admin): its answer, or
#: AdminRefused / AdminUnavailable.
Admin = Callable[[dict[str, Any]], dict[str, Any]]


#: The console's forms are a few short fields: a larger body is refused (413) before it is read.
MAX_BODY_BYTES = 16 * 1024


class ConsoleRequest(Request):
    """A request whose body may be at most MAX_BODY_BYTES, with no file parts kept."""

    max_content_length = MAX_BODY_BYTES
    max_form_parts = 20


class AdminUnavailable(Exception):
    """The admin function could not answer; the message says why (it is shown to the operator)."""


class AdminRefused(Exception):
    """The admin function refused the request (``code``: invalid_request, not_found); the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


#: The search form's fields, as the admin function's find_payments filters name them.
SEARCH_FIELDS = ("payment_id", "merchant_id", "status", "amount_min", "amount_max", "created_from", "created_to")
STATUSES = (
    "processing",
    "requires_action",
    "requires_capture",
    "succeeded",
    "declined",
    "failed",
    "canceled",
    "refunded",
)


class ConsoleApp:
    """One deployment's console."""

    def __init__(
        self,
        *,
        deployment: str,
        port: int,
        admin: Admin,
        sessions: Sessions | None = None,
        describe: Callable[[], dict[str, Any]] | None = None,
        alarms: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.deployment = deployment
        self.origin = f"http://127.0.0.1:{port}"
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.sessions = sessions or Sessions()
        self._admin = admin
        self._describe = describe
        self._alarms = alarms
        self._pages = Environment(
            loader=PackageLoader("payments_cli.console"), autoescape=select_autoescape(default=True)
        )
        self._routes = Map(
            [
                Rule("/", endpoint="home", methods=["GET"]),
                Rule("/overview", endpoint="overview", methods=["GET"]),
                Rule("/payments", endpoint="payments", methods=["GET"]),
                Rule("/payments/<payment_id>", endpoint="payment", methods=["GET"]),
                Rule("/static/console.css", endpoint="stylesheet", methods=["GET"]),
                Rule("/static/copy.js", endpoint="script", methods=["GET"]),
                Rule("/keys", endpoint="keys", methods=["GET", "POST"]),
                Rule("/keys/<key_id>/revoke", endpoint="revoke", methods=["GET", "POST"]),
                Rule("/webhooks", endpoint="webhooks", methods=["GET"]),
                Rule("/webhooks/<endpoint_id>", endpoint="webhook", methods=["GET"]),
                Rule("/webhooks/<endpoint_id>/redeliver", endpoint="redeliver", methods=["POST"]),
                Rule("/deployment", endpoint="deployment", methods=["GET"]),
                Rule("/logout", endpoint="logout", methods=["POST"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = ConsoleRequest(environ)
        try:
            response = self.answer(request)
        except HTTPException as exc:  # a form werkzeug would not read: over MAX_BODY_BYTES, or malformed
            response = self._message(exc.code or 400, "Refused", "The request's body could not be taken.")
        response.headers.update(SECURITY_HEADERS)
        return response(environ, start_response)

    def answer(self, request: Request) -> Response:
        """The response to one request."""
        # A request line naming a whole URL (a proxy's form, never a browser's to a server) would have werkzeug
        # take the host from it instead of the Host header: refused, so the Host check below sees the header.
        if not str(request.environ.get("RAW_URI") or "/").startswith("/"):
            return self._message(400, "Bad request", "The request line must be a path.")
        if request.host not in self.hosts:
            return self._message(421, "Wrong address", f"Open the console at {self.origin}/.")
        try:
            endpoint, values = self._routes.bind_to_environ(request.environ).match()
        except NotFound:
            return self._message(404, "Not found", "The console has no such page.")
        except MethodNotAllowed as exc:
            response = self._message(405, "Method not allowed", "That page does not take this method.")
            response.headers["Allow"] = ", ".join(exc.valid_methods or ())
            return response
        except HTTPException as exc:  # a malformed request werkzeug refused
            return self._message(exc.code or 400, "Bad request", "The request could not be read.")
        if endpoint == "stylesheet":
            return Response(STYLESHEET, mimetype="text/css")
        if endpoint == "script":
            return Response(SCRIPT, mimetype="text/javascript")
        if endpoint == "home" and "token" in request.args:
            if request.method != "GET":  # a HEAD (a link preview) must not spend the operator's one sign-in
                return self._message(405, "Method not allowed", "Open the address in a browser.")
            return self._exchange(request.args["token"])
        session_id = request.cookies.get(COOKIE)
        session = self.sessions.find(session_id)
        if session is None:
            return self._message(
                401, "Sign in", "Open the address `payments console` printed (it works once), or start it again."
            )
        if request.method not in ("GET", "HEAD"):
            refused = self._refused_change(request, session)
            if refused is not None:
                return refused
        if endpoint == "logout":
            self.sessions.close(str(session_id))
            response = self._message(200, "Signed out", "Start `payments console` again to sign in.")
            response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Strict")
            return response
        if endpoint == "home":
            return Response(status=303, headers={"Location": "/overview"})
        try:
            if endpoint == "payments":
                return self._payments_page(request, session)
            if endpoint == "payment":
                return self._payment_page(str(values["payment_id"]), session)
            if endpoint == "keys":
                return self._create_key(request, session) if request.method == "POST" else self._keys_page(session)
            if endpoint == "revoke":
                return self._revoke(request, str(values["key_id"]), session)
            if endpoint == "webhooks":
                endpoints = self._admin({"action": "webhook_endpoints"})["endpoints"]
                return self._webhooks_page(endpoints, session)
            if endpoint == "webhook":
                return self._webhook_page(str(values["endpoint_id"]), session)
            if endpoint == "redeliver":
                return self._redeliver(str(values["endpoint_id"]), request.form.get("event_id"), session)
            if endpoint == "deployment":
                if self._describe is None:
                    return self._message(404, "Not found", "This console describes no deployment.", session)
                info = self._describe()
                return self._render(200, "deployment.html", session, title="Deployment", page="deployment", info=info)
            return self._overview_page(session)
        except AdminUnavailable as exc:
            return self._message(502, "The deployment did not answer", str(exc), session)
        except AdminRefused as exc:
            status = {"not_found": 404, "conflict": 409}.get(exc.code, 400)
            return self._message(status, "Not found" if status == 404 else "Refused", str(exc), session)

    def _exchange(self, token: str) -> Response:
        session_id = self.sessions.exchange(token)
        if session_id is None:
            return self._message(401, "Sign in", "That sign-in address was used already or is wrong.")
        response = Response(status=303, headers={"Location": "/overview"})
        response.set_cookie(COOKIE, session_id, max_age=SESSION_S, path="/", httponly=True, samesite="Strict")
        return response

    def _refused_change(self, request: Request, session: Session) -> Response | None:
        """403 for a state-changing request from another origin or without the session's CSRF token."""
        if not same_origin(request.headers.get("Origin"), request.headers.get("Referer"), self.origin):
            return self._message(403, "Refused", "A change must come from the console's own page.")
        if not csrf_matches(session, request.form.get("csrf")):
            return self._message(403, "Refused", "The form was out of date: reload the page and try again.")
        return None

    def _overview_page(self, session: Session) -> Response:
        overview = self._admin({"action": "overview"})
        alarms: list[dict[str, Any]] | None = None
        alarms_problem = None
        if self._alarms is not None:
            try:
                alarms = self._alarms()
            except AlarmsUnavailable as exc:  # the alarms are one part of the page: the rest is still worth showing
                alarms_problem = f"the alarms could not be read: {str(exc)[:300]}"
        return self._render(
            200,
            "overview.html",
            session,
            title="Overview",
            page="overview",
            overview=overview,
            hour=_series("Payments in the last hour", overview["last_hour"], "a minute"),
            day=_series("Payments in the last day", overview["last_day"], "an hour"),
            width=chart.WIDTH,
            height=chart.HEIGHT,
            alarms=alarms,
            alarms_problem=alarms_problem,
        )

    def _payments_page(self, request: Request, session: Session) -> Response:
        form = {name: request.args.get(name, "").strip() for name in SEARCH_FIELDS}
        filters, problem = _filters(form)
        found: dict[str, Any] = {"payments": [], "has_more": False}
        if problem is None:
            after = request.args.get("starting_after")
            payload = {**filters, **({"starting_after": after} if after else {})}
            try:
                found = self._admin({"action": "find_payments", "filters": payload})
            except AdminRefused as exc:
                problem = str(exc)
        more = None
        if found["has_more"] and found["payments"]:
            more = urlencode({**{k: v for k, v in form.items() if v}, "starting_after": found["payments"][-1]["id"]})
        return self._render(
            400 if problem else 200,
            "payments.html",
            session,
            title="Payments",
            page="payments",
            form=form,
            statuses=STATUSES,
            problem=problem,
            payments=[_with_money(p) for p in found["payments"]],
            more=more,
        )

    def _payment_page(self, payment_id: str, session: Session) -> Response:
        timeline = self._admin({"action": "payment_timeline", "payment_id": payment_id})
        return self._render(
            200,
            "payment.html",
            session,
            title=payment_id,
            page="payments",
            payment=_with_money(timeline["payment"]),
            timeline=timeline,
        )

    def _webhooks_page(self, endpoints: list[dict[str, Any]], session: Session) -> Response:
        return self._render(200, "webhooks.html", session, title="Webhooks", page="webhooks", endpoints=endpoints)

    def _webhook_page(self, endpoint_id: str, session: Session, **shown: Any) -> Response:
        attempts = self._admin({"action": "endpoint_attempts", "endpoint_id": endpoint_id})["attempts"]
        return self._render(
            200,
            "webhook.html",
            session,
            title=endpoint_id,
            page="webhooks",
            endpoint_id=endpoint_id,
            attempts=attempts,
            **shown,
        )

    def _redeliver(self, endpoint_id: str, event_id: str | None, session: Session) -> Response:
        payload = {"action": "redeliver_event", "endpoint_id": endpoint_id, "event_id": event_id}
        answer = self._admin(payload)
        return self._webhook_page(
            endpoint_id, session, queued=answer["redelivery"], audit_warning=answer.get("audit_error")
        )

    def _keys_page(self, session: Session, *, status: int = 200, **shown: Any) -> Response:
        keys = self._admin({"action": "list_keys"})["keys"]
        return self._render(status, "keys.html", session, title="API keys", page="keys", keys=keys, **shown)

    def _create_key(self, request: Request, session: Session) -> Response:
        merchant = request.form.get("merchant_id", "").strip()
        read_only = request.form.get("read_only") == "on"
        days = request.form.get("expires_in_days", "").strip()
        if days and not (days.isascii() and days.isdigit() and len(days) <= 4 and 1 <= int(days) <= 1095):
            return self._keys_page(session, status=400, problem="expires in is a whole number of days, 1 to 1095")
        payload: dict[str, Any] = {"action": "create_key", "merchant_id": merchant, "read_only": read_only}
        if days:
            payload["expires_in_s"] = int(days) * 86400
        try:
            answer = self._admin(payload)
        except AdminRefused as exc:
            return self._keys_page(session, status=400, problem=str(exc))
        # The secret is in this one answer (never cached: no-store), and nowhere else afterwards.
        return self._keys_page(session, status=201, created=answer["key"], audit_warning=answer.get("audit_error"))

    def _revoke(self, request: Request, key_id: str, session: Session) -> Response:
        if request.method == "GET":
            listed = [k for k in self._admin({"action": "list_keys"})["keys"] if k["id"] == key_id]
            if not listed:
                return self._message(404, "Not found", "No such key.", session)
            return self._render(200, "revoke.html", session, title="Revoke a key", page="keys", key=listed[0])
        answer = self._admin({"action": "revoke_key", "key_id": key_id})
        return self._keys_page(session, revoked=answer["key"], audit_warning=answer.get("audit_error"))

    def _message(self, status: int, title: str, message: str, session: Session | None = None) -> Response:
        return self._render(status, "message.html", session, title=title, message=message, page=None)

    def _render(self, status: int, template: str, session: Session | None, **values: Any) -> Response:
        page = self._pages.get_template(template).render(
            deployment=self.deployment, csrf=None if session is None else session.csrf, **values
        )
        return Response(page, status=status, mimetype="text/html")


def _series(heading: str, data: dict[str, Any], bucket: str) -> dict[str, Any]:
    buckets = data["buckets"]
    rate = data["authorization_rate"]
    return {
        "heading": heading,
        "totals": data["totals"],
        "rate": "none yet" if rate is None else f"{rate:.1%}",
        "bars": chart.bars(buckets),
        "first": buckets[0]["start"] if buckets else "",
        "last": buckets[-1]["start"] if buckets else "",
        "bucket": bucket,
    }


def _filters(form: dict[str, str]) -> tuple[dict[str, Any], str | None]:
    """The admin function's filters from the search form (blank fields left out), or what is wrong with it."""
    filters: dict[str, Any] = {}
    for name, value in form.items():
        if not value:
            continue
        if name.startswith("amount_"):
            if not value.isascii() or not value.isdigit() or len(value) > 19:
                return {}, f"{name.replace('_', ' ')} is a whole number of minor units (1500 is 15.00 EUR)"
            filters[name] = int(value)
        else:
            filters[name] = value
    return filters, None


def _with_money(payment: dict[str, Any]) -> dict[str, Any]:
    """The payment with ``money``: its amount in major units and its currency (1500 EUR is "15.00 EUR")."""
    info = lookup(str(payment.get("currency", "")))
    exponent = 2 if info is None else info.exponent
    amount = int(payment.get("amount", 0))
    major = f"{amount // 10**exponent}.{amount % 10**exponent:0{exponent}d}" if exponent else str(amount)
    return {**payment, "money": f"{major} {payment.get('currency', '')}"}
