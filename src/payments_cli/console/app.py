"""The console's WSGI application: routes, who may ask (``sessions``), security headers, the pages.

Routes:
- ``GET /?token=…``: the one-time token for a session cookie, then a redirect to the overview (the token leaves
  the address bar). ``GET /`` with a session: the overview; without: 401.
- ``GET /overview``: payments by outcome (charted), the authorization rate, work in hand, failing webhooks.
- ``GET /static/console.css``: the one stylesheet.
- ``POST /logout``: sign out (same origin and the CSRF token, as every state-changing request).

Every answer carries a Content-Security-Policy that allows no script at all and nothing from elsewhere, and is
never cached. A request whose ``Host`` is not the console's own address is refused (a DNS-rebinding page cannot
borrow the operator's session).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from payments_cli.console import chart
from payments_cli.console.sessions import COOKIE, SESSION_S, Session, Sessions, csrf_matches, same_origin

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
STYLESHEET = (resources.files("payments_cli.console") / "static" / "console.css").read_bytes()

#: What the console reads through the deployment's admin function (payments_cli.commands.common.invoke_admin).
Overview = Callable[[], dict[str, Any]]


class AdminUnavailable(Exception):
    """The admin function could not answer; the message says why (it is shown to the operator)."""


class ConsoleApp:
    """One deployment's console."""

    def __init__(self, *, deployment: str, port: int, overview: Overview, sessions: Sessions | None = None) -> None:
        self.deployment = deployment
        self.origin = f"http://127.0.0.1:{port}"
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.sessions = sessions or Sessions()
        self._overview = overview
        self._pages = Environment(
            loader=PackageLoader("payments_cli.console"), autoescape=select_autoescape(default=True)
        )
        self._routes = Map(
            [
                Rule("/", endpoint="home", methods=["GET"]),
                Rule("/overview", endpoint="overview", methods=["GET"]),
                Rule("/static/console.css", endpoint="stylesheet", methods=["GET"]),
                Rule("/logout", endpoint="logout", methods=["POST"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = self.answer(Request(environ))
        response.headers.update(SECURITY_HEADERS)
        return response(environ, start_response)

    def answer(self, request: Request) -> Response:
        """The response to one request."""
        if request.host not in self.hosts:
            return self._message(421, "Wrong address", f"Open the console at {self.origin}/.")
        try:
            endpoint, _ = self._routes.bind_to_environ(request.environ).match()
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
        if endpoint == "home" and "token" in request.args:
            return self._exchange(request.args["token"])
        session_id = request.cookies.get(COOKIE)
        session = self.sessions.find(session_id)
        if session is None:
            return self._message(
                401, "Sign in", "Open the address `payments console` printed (it works once), or start it again."
            )
        if request.method != "GET":
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
        return self._overview_page(session)

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
        try:
            overview = self._overview()
        except AdminUnavailable as exc:
            return self._message(502, "The deployment did not answer", str(exc), session)
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
        )

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
