"""The operator console (``payments console``): a web page on 127.0.0.1 for one deployment.

- ``sessions``: the one-time token, the session cookie and the CSRF token; who may ask for what.
- ``app``: the WSGI application (routes, security headers, the pages).
- ``chart``: server-rendered SVG charts (no script runs in the page).
- ``templates/``: the pages (Jinja2, autoescaped).

It reads and acts through the deployment's admin function with the operator's own credentials, as ``payments
keys`` does, so it adds nothing reachable from the internet and works the same on both targets.
"""
