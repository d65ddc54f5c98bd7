"""The admin function: the operator-only entry point for schema migrations and API-key management.

``payment_processor.admin.handler`` runs as its own Lambda function with no API route and no
invoke permission for any service: only an operator whose AWS credentials allow
``lambda:InvokeFunction`` on it can call it (``payments keys``, ``payments deploy``). It is the one
function that connects as the database's admin (RDS master) user. Events and answers:

- ``{"action": "setup"}``: apply migrations; give the application roles their generated passwords,
  written only to their Secrets Manager secrets (a role whose secret already holds one keeps it); create
  the API-key pepper once. Answers what it did, never a password.
- ``{"action": "create_key", "merchant_id": M, "read_only": bool, "expires_in_s"?: int}``: a new key (expiring
  ``expires_in_s`` from now, if given); its secret is in this answer and nowhere else.
- ``{"action": "roll_key", "key_id": K, "overlap_s": int}``: K's replacement (its secret in this answer only),
  and K as it is now, working until the overlap ends.
- ``{"action": "list_keys", "merchant_id": M?}`` and ``{"action": "revoke_key", "key_id": K}``.
- ``{"action": "list_audit", "since"?: ISO 8601, "limit"?: 1..1000}``: the audit log, newest first. Every action
  that changes something is recorded there once it has run, been refused or failed, with the ``actor`` the
  event names (the ``payments`` command sends the identity it runs as), and copied under ``audit/`` in the
  transaction-log bucket; an answer whose entry could not be written or copied says so in ``audit_error``.
- ``{"action": "overview"}``: what the operator console's overview shows (payment_processor.store.overview):
  payments by outcome per minute and hour, the authorization rate, processing payments, the outbox, failing
  webhook endpoints. Counts and times only. A read: not recorded in the audit log.
- ``{"action": "find_payments", "filters": {payment_id?, merchant_id?, status?, amount_min?, amount_max?,
  created_from?, created_to?, limit?, starting_after?}}`` and ``{"action": "payment_timeline", "payment_id"}``:
  the console's payments pages (payment_processor.store.investigation); ``{"action": "webhook_endpoints"}`` and
  ``{"action": "endpoint_attempts", "endpoint_id"}`` its webhooks page. Reads: not recorded.
- ``{"action": "redeliver_event", "event_id", "endpoint_id"}``: one more delivery of the event to the endpoint,
  as the merchant's POST /events/{id}/redeliver queues it (audited).
- ``{"action": "set_connector", "merchant_id", "connector", "priority"?, "endpoint"?, "secret"?}``: a merchant's
  acquirer (``stripe`` with its secret key, or ``simulated``); the secret goes to its own Secrets Manager
  secret and is never answered. ``{"action": "list_connectors", "merchant_id"}`` and
  ``{"action": "remove_connector", "merchant_id", "connector"}``.

Every answer is ``{"ok": true, ...}`` or ``{"ok": false, "error": {"code", "message"}}``.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from typing import Any

import psycopg
from botocore.exceptions import BotoCoreError, ClientError
from psycopg import sql

from payment_processor.apikeys import ApiKeys, KeyError_, KeyNotFound, KeyStateConflict, pepper_from
from payment_processor.audit import AUDITED_ACTIONS, AuditEntry, entry_for
from payment_processor.aws import client
from payment_processor.config import ConfigError, Settings
from payment_processor.connectors.configuration import (
    KINDS,
    MERCHANT,
    InvalidConnector,
    MerchantConnector,
    validated,
    validated_secret,
)
from payment_processor.credentials import CredentialsUnavailable, SecretsManagerCredentials, SecretsManagerSecret
from payment_processor.encoding import compact_json
from payment_processor.migrate import MigrationError, migrate
from payment_processor.store.audit_log import PostgresAuditLog
from payment_processor.store.database import Database
from payment_processor.store.interfaces import StoreUnavailable
from payment_processor.store.investigation import (
    SearchError,
    endpoint_attempts,
    find_payments,
    payment_timeline,
    webhook_endpoints,
)
from payment_processor.store.overview import read_overview
from payment_processor.store.postgres import PostgresKeyStore, in_statement
from payment_processor.store.webhook_deliveries import PostgresWebhookDeliveries
from payment_processor.txlog import S3Sink, SinkUnavailable, is_event_id
from payment_processor.webhooks.endpoints import is_endpoint_id

#: The application roles migration 0002 creates, by the suffix on the database's name, and the setting
#: naming the secret each one's login is kept in.
APP_ROLES = (("app", "app_db_secret_arn"), ("auth", "auth_db_secret_arn"))


class AdminError(Exception):
    """A request the admin function refuses; ``code`` is machine-readable, the message says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _seconds_or_none(value: Any) -> bool:
    """True for None or whole seconds (an int, not a bool: JSON's true is no duration)."""
    # Bounded well past any key's life, so no timedelta overflows: the keys' own rules then refuse it clearly.
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**10)


@contextmanager
def _key_errors() -> Iterator[None]:
    """Key management's refusals as the admin function answers them."""
    try:
        yield
    except KeyNotFound as exc:
        raise AdminError("not_found", str(exc)) from None
    except KeyStateConflict as exc:
        raise AdminError("conflict", str(exc)) from None
    except KeyError_ as exc:
        raise AdminError("invalid_request", str(exc)) from None
    except psycopg.errors.UndefinedTable:
        raise AdminError("not_set_up", "the database has no api_keys table: run setup first") from None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: one admin action per invocation."""
    del context
    try:
        admin = Admin(Settings.from_env())
        try:
            return {"ok": True, **admin.run(event)}
        finally:
            admin.close()
    except AdminError as exc:
        return {"ok": False, "error": {"code": exc.code, "message": str(exc)}}
    except ConfigError as exc:
        return {"ok": False, "error": {"code": "misconfigured", "message": str(exc)}}
    except (StoreUnavailable, CredentialsUnavailable) as exc:
        return {"ok": False, "error": {"code": "unavailable", "message": str(exc)}}
    except MigrationError as exc:
        return {"ok": False, "error": {"code": "migration_failed", "message": str(exc)}}


class Admin:
    """Setup and key management over the admin connection."""

    def __init__(self, settings: Settings, *, secrets_client: Any | None = None) -> None:
        self._settings = settings
        self._secrets = secrets_client or client("secretsmanager", settings)
        self._database = Database(settings, SecretsManagerCredentials(self._secrets, settings.db_secret_arn))

    def close(self) -> None:
        """Close the connection."""
        self._database.close()

    def run(self, event: dict[str, Any]) -> dict[str, Any]:
        """Dispatch one event to its action; an action that changes something is recorded in the audit log
        once it has run, been refused or failed (see payment_processor.audit)."""
        action = event.get("action") if isinstance(event, dict) else None
        if action not in AUDITED_ACTIONS:
            return self._dispatch(event)
        try:
            answer = self._dispatch(event)
        except AdminError as exc:
            self._audit(entry_for(event, "refused", code=exc.code))
            raise
        except Exception:
            self._audit(entry_for(event, "failed"))
            raise
        problem = self._audit(entry_for(event, "ok", answer))
        return answer if problem is None else {**answer, "audit_error": problem}

    def _audit(self, entry: AuditEntry) -> str | None:
        """Append ``entry`` to the table, then copy it into the transaction-log bucket; what went wrong if either
        could not be done (the action stands: its answer says so)."""
        try:
            stored = PostgresAuditLog(self._database).append(entry)
        except (StoreUnavailable, psycopg.Error) as exc:
            return f"the action was not recorded in the audit log: {exc}"
        bucket = self._settings.transaction_log_bucket
        if bucket is None:
            return None
        try:
            S3Sink(client("s3", self._settings), bucket).put(stored.object_key(), compact_json(stored.resource()))
        except SinkUnavailable as exc:
            return f"the audit entry {stored.id} is in the database but was not copied to the bucket: {exc}"
        return None

    def _dispatch(self, event: dict[str, Any]) -> dict[str, Any]:
        actions: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "setup": lambda _: self.setup(),
            "create_key": self._create_key,
            "list_keys": self._list_keys,
            "revoke_key": self._revoke_key,
            "roll_key": self._roll_key,
            "set_connector": self._set_connector,
            "list_connectors": self._list_connectors,
            "remove_connector": self._remove_connector,
            "forget_connectors": lambda _: self._forget_connectors(),
            "list_audit": self._list_audit,
            "overview": lambda _: read_overview(self._database),
            "find_payments": self._find_payments,
            "payment_timeline": self._payment_timeline,
            "webhook_endpoints": lambda _: webhook_endpoints(self._database),
            "endpoint_attempts": self._endpoint_attempts,
            "redeliver_event": self._redeliver_event,
        }
        action = event.get("action") if isinstance(event, dict) else None
        if action not in actions:
            raise AdminError("unknown_action", f"action must be one of {', '.join(actions)}")
        return actions[str(action)](event)

    def setup(self) -> dict[str, Any]:
        """Migrations, the application roles' logins, the pepper. Safe to run again."""
        conn = self._database.connection()
        applied = migrate(conn)
        database = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        roles = []
        for suffix, setting in APP_ROLES:
            secret_arn = getattr(self._settings, setting)
            if not secret_arn:
                raise AdminError(
                    "misconfigured", f"{setting.upper()} is not set: the admin function's deployment sets it"
                )
            role = f"{database}_{suffix}"
            password = self._login_password(secret_arn, role)
            # The password is a bound literal in a statement nobody logs (log_statement stays "none").
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
            roles.append(role)
        pepper = self._ensure_pepper()
        return {"migrations_applied": applied, "roles": roles, "pepper": pepper}

    def _login_password(self, secret_arn: str, role: str) -> str:
        """The role's password: the one its secret holds, or a new one written there first."""
        current = self._secret_value(secret_arn)
        if current and current.get("username") == role and current.get("password"):
            return str(current["password"])
        password = secrets.token_urlsafe(32)
        self._secrets.put_secret_value(
            SecretId=secret_arn, SecretString=json.dumps({"username": role, "password": password})
        )
        return password

    def _ensure_pepper(self) -> str:
        arn = self._settings.api_key_pepper_secret_arn
        if not arn:
            raise AdminError("misconfigured", "API_KEY_PEPPER_SECRET_ARN is not set")
        if (self._secret_value(arn) or {}).get("pepper"):
            return "kept"  # never rotated here: a new pepper would invalidate every key
        self._secrets.put_secret_value(
            SecretId=arn, SecretString=json.dumps({"pepper": base64.b64encode(secrets.token_bytes(32)).decode()})
        )
        return "created"

    def _secret_value(self, arn: str) -> dict[str, Any] | None:
        """The secret's JSON, or None while it has no value yet (Terraform creates secrets empty)."""
        try:
            raw = self._secrets.get_secret_value(SecretId=arn)["SecretString"]
        except self._secrets.exceptions.ResourceNotFoundException:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _keys(self) -> ApiKeys:
        arn = self._settings.api_key_pepper_secret_arn
        if not arn:
            raise AdminError("misconfigured", "API_KEY_PEPPER_SECRET_ARN is not set")
        pepper = pepper_from(SecretsManagerSecret(self._secrets, arn))
        return ApiKeys(PostgresKeyStore(self._database), pepper, mode=self._settings.api_key_mode)

    def _create_key(self, event: dict[str, Any]) -> dict[str, Any]:
        read_only = event.get("read_only", False)
        merchant = event.get("merchant_id")
        expires_in = event.get("expires_in_s")
        if not isinstance(read_only, bool) or not isinstance(merchant, str) or not _seconds_or_none(expires_in):
            raise AdminError(
                "invalid_request",
                "create_key takes merchant_id (text), read_only (true/false) and "
                "expires_in_s (whole seconds, optional)",
            )
        lifetime = None if expires_in is None else timedelta(seconds=expires_in)
        with _key_errors():
            issued = self._keys().create(merchant, read_only=read_only, expires_in=lifetime)
        return {"key": issued.resource()}

    def _roll_key(self, event: dict[str, Any]) -> dict[str, Any]:
        key_id, overlap = event.get("key_id"), event.get("overlap_s")
        if not isinstance(key_id, str) or overlap is None or not _seconds_or_none(overlap):
            raise AdminError("invalid_request", "roll_key takes key_id (text) and overlap_s (whole seconds)")
        with _key_errors():
            issued, rolled = self._keys().roll(key_id, overlap=timedelta(seconds=overlap))
        return {"key": issued.resource(), "rolled": rolled.resource()}

    def _list_audit(self, event: dict[str, Any]) -> dict[str, Any]:
        since, limit = event.get("since"), event.get("limit", 100)
        if not (since is None or isinstance(since, str)) or not (
            isinstance(limit, int) and not isinstance(limit, bool) and 1 <= limit <= 1000
        ):
            raise AdminError("invalid_request", "list_audit takes since (an ISO 8601 time) and limit (1 to 1000)")
        try:
            start = None if since is None else datetime.fromisoformat(since)
        except ValueError:
            raise AdminError("invalid_request", f"since is not an ISO 8601 time: {str(since)[:40]!r}") from None
        if start is not None and start.tzinfo is None:
            raise AdminError("invalid_request", "since needs a time zone, e.g. 2026-12-07T05:00:00Z")
        try:
            entries = PostgresAuditLog(self._database).list(since=start, limit=limit)
        except psycopg.errors.UndefinedTable:
            raise AdminError("not_set_up", "the database has no audit_log table: run setup first") from None
        return {"entries": [entry.resource() for entry in entries]}

    def _find_payments(self, event: dict[str, Any]) -> dict[str, Any]:
        filters = event.get("filters", {})
        if not isinstance(filters, dict):
            raise AdminError("invalid_request", "find_payments takes filters (an object)")
        try:
            return find_payments(self._database, filters)
        except SearchError as exc:
            raise AdminError("invalid_request", str(exc)) from None

    def _payment_timeline(self, event: dict[str, Any]) -> dict[str, Any]:
        try:
            found = payment_timeline(self._database, event.get("payment_id"))
        except SearchError as exc:
            raise AdminError("invalid_request", str(exc)) from None
        if found is None:
            raise AdminError("not_found", "no such payment")
        return {**found, **self._events_in_s3(found["events"])}

    def _events_in_s3(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """What the transaction-log bucket holds under the folders of these events (a listing: keys, sizes and
        times, never the content), or why it could not be listed."""
        bucket = self._settings.transaction_log_bucket
        folders = sorted({str(e["object_key"]).rsplit("/", 1)[0] + "/" for e in events if e.get("object_key")})
        if bucket is None or not folders:
            return {"s3_objects": [], "s3_error": None if bucket else "TRANSACTION_LOG_BUCKET is not set"}
        s3 = client("s3", self._settings)
        found: list[dict[str, Any]] = []
        try:
            for folder in folders:
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
                    found += [
                        {"key": o["Key"], "size": o["Size"], "last_modified": o["LastModified"].isoformat()}
                        for o in page.get("Contents", [])
                    ]
        except (BotoCoreError, ClientError) as exc:
            return {"s3_objects": found, "s3_error": f"the bucket could not be listed: {str(exc)[:200]}"}
        return {"s3_objects": found, "s3_error": None}

    def _endpoint_attempts(self, event: dict[str, Any]) -> dict[str, Any]:
        try:
            return endpoint_attempts(self._database, event.get("endpoint_id"))
        except SearchError as exc:
            raise AdminError("invalid_request", str(exc)) from None

    def _redeliver_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Queue one more delivery of an event to one endpoint of the merchant it belongs to (as the merchant's own
        POST /events/{id}/redeliver does: tried once, one queued at a time)."""
        event_id, endpoint_id = event.get("event_id"), event.get("endpoint_id")
        if (
            not isinstance(event_id, str)
            or not is_event_id(event_id)
            or not isinstance(endpoint_id, str)
            or not (is_endpoint_id(endpoint_id))
        ):
            raise AdminError("invalid_request", "redeliver_event takes event_id (pay_…:NNNN) and endpoint_id (we_…)")
        with in_statement(self._database) as conn:
            row = conn.execute("SELECT merchant_id FROM webhook_endpoints WHERE id = %s", (endpoint_id,)).fetchone()
        if row is None:
            raise AdminError("not_found", "no such webhook endpoint")
        missing = PostgresWebhookDeliveries(self._database).redeliver(str(row[0]), event_id, endpoint_id)
        if missing == "event":
            raise AdminError("not_found", "no such event of the endpoint's merchant")
        if missing == "disabled":
            raise AdminError("conflict", "the endpoint is disabled: the merchant enables it, then ask again")
        if missing is not None:
            raise AdminError("not_found", "no such webhook endpoint")
        return {"redelivery": {"event_id": event_id, "endpoint_id": endpoint_id, "status": "queued"}}

    def _list_keys(self, event: dict[str, Any]) -> dict[str, Any]:
        merchant = event.get("merchant_id")
        if merchant is not None and not isinstance(merchant, str):
            raise AdminError("invalid_request", "merchant_id must be text")
        return {"keys": [key.resource() for key in self._keys().list(merchant)]}

    def _revoke_key(self, event: dict[str, Any]) -> dict[str, Any]:
        key_id = event.get("key_id")
        if not isinstance(key_id, str):
            raise AdminError("invalid_request", "revoke_key takes key_id")
        with _key_errors():
            return {"key": self._keys().revoke(key_id).resource()}

    # Merchants' connectors: the row in merchant_connectors (what the processor reads), the secret key in its own
    # Secrets Manager secret (written first, so a row never names a secret that is not there).

    def _set_connector(self, event: dict[str, Any]) -> dict[str, Any]:
        try:
            merchant, connector, priority, endpoint = validated(
                event.get("merchant_id"),
                event.get("connector"),
                event.get("priority", 1),
                event.get("endpoint"),
                allow_http=self._settings.connectors_allow_http,
            )
            secret = validated_secret(connector, event.get("secret"))
        except InvalidConnector as exc:
            raise AdminError("invalid_request", str(exc)) from None
        conn = self._database.connection()
        taken = conn.execute(
            "SELECT connector FROM merchant_connectors WHERE merchant_id = %s AND priority = %s AND connector <> %s",
            (merchant, priority, connector),
        ).fetchone()
        if taken is not None:
            raise AdminError(
                "invalid_request",
                f"priority {priority} is {merchant}'s {taken[0]} connector's; give this one another priority, or "
                f"move that one first",
            )
        secret_name = None if secret is None else self._keep_connector_secret(merchant, connector, secret)
        conn.execute(
            "INSERT INTO merchant_connectors (merchant_id, connector, priority, endpoint, secret_name) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (merchant_id, connector) DO UPDATE SET "
            "priority = excluded.priority, endpoint = excluded.endpoint, secret_name = excluded.secret_name, "
            "updated_at = now()",
            (merchant, connector, priority, endpoint, secret_name),
        )
        return {"connector": MerchantConnector(merchant, connector, priority, endpoint).resource()}

    def _list_connectors(self, event: dict[str, Any]) -> dict[str, Any]:
        merchant = event.get("merchant_id")
        if not isinstance(merchant, str) or not MERCHANT.fullmatch(merchant):
            raise AdminError("invalid_request", "list_connectors takes merchant_id (1 to 64 letters, digits, _ or -)")
        rows = self._database.connection().execute(
            "SELECT merchant_id, connector, priority, endpoint FROM merchant_connectors WHERE merchant_id = %s "
            "ORDER BY priority",
            (merchant,),
        )
        return {"connectors": [MerchantConnector(*row).resource() for row in rows]}

    def _remove_connector(self, event: dict[str, Any]) -> dict[str, Any]:
        merchant, connector = event.get("merchant_id"), event.get("connector")
        if not isinstance(merchant, str) or not MERCHANT.fullmatch(merchant) or connector not in KINDS:
            raise AdminError(
                "invalid_request", f"remove_connector takes merchant_id and connector ({', '.join(sorted(KINDS))})"
            )
        removed = (
            self._database.connection()
            .execute(
                "DELETE FROM merchant_connectors WHERE merchant_id = %s AND connector = %s "
                "RETURNING merchant_id, connector, priority, endpoint, secret_name",
                (merchant, connector),
            )
            .fetchone()
        )
        if removed is None:
            raise AdminError("not_found", f"{merchant} has no {connector} connector (payments connectors list)")
        if removed[4] is not None:
            # Deleted at once, not scheduled: the merchant may configure the connector again under the same name.
            with suppress(self._secrets.exceptions.ResourceNotFoundException):
                self._secrets.delete_secret(SecretId=removed[4], ForceDeleteWithoutRecovery=True)
        return {"connector": MerchantConnector(*removed[:4]).resource()}

    def _forget_connectors(self) -> dict[str, Any]:
        """Every merchant's connectors and their secret keys, gone: what ``payments destroy --target aws`` runs
        before Terraform destroys the deployment. The secrets are the admin function's, not Terraform's (it never
        sees a merchant's key), so nothing else would delete them; each is deleted at once, not scheduled, and
        its row only after its secret (a failure part-way leaves rows that name what is still to delete, and
        running it again finishes)."""
        rows = (
            self._database.connection()
            .execute("SELECT merchant_id, connector, secret_name FROM merchant_connectors ORDER BY 1, 2")
            .fetchall()
        )
        deleted = 0
        for merchant, connector, secret_name in rows:
            if secret_name is not None:
                # A forced delete of a secret already gone is no error in Secrets Manager; kept for one that is.
                with suppress(self._secrets.exceptions.ResourceNotFoundException):
                    self._secrets.delete_secret(SecretId=secret_name, ForceDeleteWithoutRecovery=True)
                deleted += 1
            self._database.connection().execute(
                "DELETE FROM merchant_connectors WHERE merchant_id = %s AND connector = %s", (merchant, connector)
            )
        return {"connectors_removed": len(rows), "secrets_deleted": deleted}

    def _keep_connector_secret(self, merchant: str, connector: str, secret: str) -> str:
        prefix, key = self._settings.connector_secrets_prefix, self._settings.connector_secrets_key_id
        if not prefix or not key:
            raise AdminError(
                "misconfigured",
                "CONNECTOR_SECRET_NAME_PREFIX and CONNECTOR_SECRETS_KEY_ID are not set: the admin "
                "function's deployment sets them",
            )
        name = f"{prefix}/{merchant}/{connector}"
        value = json.dumps({"secret_key": secret})
        try:
            self._secrets.put_secret_value(SecretId=name, SecretString=value)
        except self._secrets.exceptions.ResourceNotFoundException:
            self._secrets.create_secret(
                Name=name,
                KmsKeyId=key,
                SecretString=value,
                Description=f"{merchant}'s {connector} secret key (payments connectors set)",
            )
        return name
