"""Who may use the console: a one-time token exchanged for a session cookie, and a CSRF token per session.

The console prints ``http://127.0.0.1:PORT/?token=…`` once. The first request carrying that token gets a session
cookie (``HttpOnly``, ``SameSite=Strict``, ``Path=/``) and the token is spent: a second use is refused, so a URL
left in a shell history or a browser's address bar opens nothing later. A request without a valid session is
401. A state-changing request (anything but GET and HEAD) must come from the console's own origin (``Origin``,
or ``Referer`` when a browser sends no Origin) and carry the session's CSRF token in a form field; anything else
is 403 before it does anything. Tokens are 256 random bits compared in constant time; sessions end after
``SESSION_S`` of idleness and live in this process only (restarting the console signs everyone out).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "payments_console"
#: A session ends after this long without a request.
SESSION_S = 8 * 3600
#: The most sessions kept at once (the oldest go first): an exchange can only happen once anyway.
MAX_SESSIONS = 64


@dataclass
class Session:
    """One signed-in browser."""

    csrf: str
    last_seen: float


@dataclass
class Sessions:
    """The one-time token and the live sessions of one console process."""

    clock: Callable[[], float] = time.monotonic
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    _spent: bool = False
    _sessions: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def exchange(self, offered: str) -> str | None:
        """A new session id for the one-time token, once; None for a wrong or spent token."""
        with self._lock:
            if self._spent or not hmac.compare_digest(offered.encode(), self.token.encode()):
                return None
            self._spent = True
            return self._open()

    def _open(self) -> str:
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = Session(csrf=secrets.token_urlsafe(32), last_seen=self.clock())
        return session_id

    def find(self, session_id: str | None) -> Session | None:
        """The live session with this id (its idle time restarts), or None."""
        if not session_id:
            return None
        with self._lock:
            now = self.clock()
            for known in [k for k, s in self._sessions.items() if now - s.last_seen > SESSION_S]:
                del self._sessions[known]
            for known, session in self._sessions.items():
                if hmac.compare_digest(known.encode(), session_id.encode()):
                    session.last_seen = now
                    return session
            return None

    def close(self, session_id: str) -> None:
        """Sign a session out."""
        with self._lock:
            self._sessions.pop(session_id, None)


def same_origin(origin: str | None, referer: str | None, own: str) -> bool:
    """Whether a state-changing request comes from the console's own pages: its ``Origin`` is exactly ``own``
    (``http://127.0.0.1:PORT``), or, without one, its ``Referer`` starts with ``own/``. Neither: refused."""
    if origin is not None:
        return origin == own
    return referer is not None and referer.startswith(own + "/")


def csrf_matches(session: Session, offered: str | None) -> bool:
    """The form's CSRF token is the session's."""
    return offered is not None and hmac.compare_digest(offered.encode(), session.csrf.encode())
