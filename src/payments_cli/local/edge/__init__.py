"""The HTTP edge of the local target: what AWS does in front of the functions, as the local API server does it.

``server.py`` serves the deployed REST API on 127.0.0.1 and turns requests into proxy events; ``waf.py`` holds
the web ACL's rate rules (per credential, and per address for credentials that are not a well-formed key);
``authorizers.py`` the API Gateway request authorizers (run from the deployed zip, their answers cached per
credential); ``responses.py`` API Gateway's own answers (gateway responses). Each is read back from the emulator
as deployed, so the numbers and bodies are the stack's, not this package's (see ``local.deviations``, gap 6).
The functions themselves run in ``local.lambda_runtime``.
"""
