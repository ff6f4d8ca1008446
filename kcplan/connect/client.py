"""The one client for the Kafka Connect REST API: one method per endpoint kcplan uses.

Sending, failover and retries are kcplan/connect/transport.py's job, reading answers
kcplan/connect/classify.py's (docs/connect-client.md tables the policy). Methods that need a newer worker
than the one answering raise ConnectError naming both versions before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kcplan.config.sensitive import SensitiveKeys, scrub
from kcplan.connect.classify import GENERAL_KEY, redact_url, validation_errors
from kcplan.connect.models import FEATURE_SINCE, ConnectorOffset, ConnectorStatus, LiveConnector, ServerInfo
from kcplan.connect.transport import Transport
from kcplan.errors import ConfigError, ConnectError, InvalidConfig, NotFound
from kcplan.values import live_config

if TYPE_CHECKING:
    from kcplan.config.environment import Settings

FALLBACK_PARALLELISM = 8  # concurrent per-connector reads for workers without expand (< 2.3)


class ConnectClient:
    """Thread-safe client for one Connect cluster (any of its worker URLs)."""

    def __init__(self, urls: list[str], *, timeout: float = 120.0, connect_timeout: float = 5.0,
                 retry_deadline: float = 120.0, auth: tuple[str, str] | None = None,
                 bearer_token: str | None = None, headers: dict[str, str] | None = None,
                 verify: bool | str = True, cert: str | tuple[str, str] | None = None, debug: bool = False,
                 sensitive: SensitiveKeys | None = None) -> None:
        self._transport = Transport(urls, timeout=timeout, connect_timeout=connect_timeout,
                                    retry_deadline=retry_deadline, auth=auth, bearer_token=bearer_token,
                                    headers=headers, verify=verify, cert=cert, debug=debug, sensitive=sensitive)
        self._server_info: ServerInfo | None = None

    @classmethod
    def from_settings(cls, settings: Settings, debug: bool = False,
                      sensitive: SensitiveKeys | None = None) -> ConnectClient:
        """Build the client from an environment's settings (secrets unwrapped only here). ``sensitive``
        (default: the settings' sensitive_keys) decides which values of a request body are masked in
        the server's messages: pass the project's (schemas included) so PASSWORD keys are masked too."""
        basic = settings.auth.basic
        auth = (basic.username, basic.password.get_secret_value()) if basic else None
        token = settings.auth.bearer_token.get_secret_value() if settings.auth.bearer_token else None
        headers = {k: v.get_secret_value() for k, v in settings.auth.headers.items()}
        tls = settings.tls
        verify: bool | str = tls.ca_bundle if (tls.verify and tls.ca_bundle) else tls.verify
        cert: str | tuple[str, str] | None = None
        if tls.client_key and not tls.client_cert:
            raise ConfigError("tls.client_key is set without tls.client_cert",
                              "Set tls.client_cert to the client certificate (PEM) that goes with the key.")
        if tls.client_cert:
            cert = (tls.client_cert, tls.client_key) if tls.client_key else tls.client_cert
        return cls(
            list(settings.connect_url),
            timeout=settings.request_timeout,
            connect_timeout=settings.connect_timeout,
            retry_deadline=settings.retry_deadline,
            auth=auth,
            bearer_token=token,
            headers=headers,
            verify=verify,
            cert=cert,
            debug=debug,
            sensitive=sensitive or SensitiveKeys(extra_keys=settings.sensitive_keys),
        )

    @property
    def urls(self) -> list[str]:
        return self._transport.urls

    @property
    def current_url(self) -> str:
        """The worker URL that answered last (tried first next time)."""
        return self._transport.current_url

    @property
    def timeout(self) -> float:
        return self._transport.timeout

    @property
    def connect_timeout(self) -> float:
        return self._transport.connect_timeout

    @property
    def request_count(self) -> int:
        """Requests sent (retries included): for benches and tests."""
        return self._transport.request_count

    @property
    def retry_count(self) -> int:
        """Answers that were retried (rebalances, lost reads)."""
        return self._transport.retry_count

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> ConnectClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints ---------------------------------------------------------------------------------------

    def server_info(self) -> ServerInfo:
        """GET / (version, commit, Kafka cluster id); cached for the client's lifetime."""
        if self._server_info is None:
            body = self._transport.request("GET", "/", probe=True).json_object()
            self._server_info = ServerInfo(
                version=str(body.get("version", "")),
                commit=str(body.get("commit", "")),
                kafka_cluster_id=str(body.get("kafka_cluster_id", "")),
            )
        return self._server_info

    def connector_names(self) -> list[str]:
        return sorted(str(n) for n in self._transport.request("GET", "/connectors").json_list())

    def list_connectors(self) -> dict[str, LiveConnector]:
        """Every connector with config and status: GET /connectors, then ONE
        GET /connectors?expand=status&expand=info for all their configs and states.

        The plain name list comes first because during a rebalance Connect silently leaves out of the
        expanded answer the connectors whose info it cannot read yet (seen for ~15 s on the distributed
        sandbox): a connector that is listed but missing there is read on its own, so a plan never
        mistakes it for absent. Workers older than 2.3 ignore ``expand`` and answer a list of names:
        then each connector is read on its own, FALLBACK_PARALLELISM at a time.
        """
        known = self._server_info
        if known is not None and not known.supports("expand"):
            return self._read_each(self.connector_names())
        listed = self.connector_names()
        reply = self._transport.request("GET", "/connectors", params=[("expand", "status"), ("expand", "info")])
        if reply.is_json and isinstance(reply.body, list):
            return self._read_each([str(n) for n in reply.body])
        found: dict[str, LiveConnector] = {}
        entries = reply.json_object()
        incomplete: list[str] = [name for name in listed if name not in entries]
        for name, entry in entries.items():
            live = live_from_expand(name, entry)
            if live is None:
                incomplete.append(name)  # info missing: removed while listed, or not readable yet
            else:
                found[name] = live
        if incomplete:
            found.update(self._read_each(incomplete))
        return dict(sorted(found.items()))

    def statuses(self) -> dict[str, ConnectorStatus]:
        """The status of every connector: ONE GET /connectors?expand=status (health polling uses it).

        A connector the worker has no status for yet is left out by Connect itself (it answers the
        others). Workers older than 2.3 answer a list of names: then each status is read on its own,
        FALLBACK_PARALLELISM at a time (a connector without status comes back with state None).
        """
        known = self._server_info
        if known is not None and not known.supports("expand"):
            return self._status_each(self.connector_names())
        reply = self._transport.request("GET", "/connectors", params=[("expand", "status")])
        if reply.is_json and isinstance(reply.body, list):
            return self._status_each([str(n) for n in reply.body])
        found: dict[str, ConnectorStatus] = {}
        for name, entry in reply.json_object().items():
            status = entry.get("status") if isinstance(entry, dict) else None
            found[str(name)] = (ConnectorStatus.from_json(str(name), status) if isinstance(status, dict)
                                else ConnectorStatus(name=str(name), state=None))
        return dict(sorted(found.items()))

    def _status_each(self, names: list[str]) -> dict[str, ConnectorStatus]:
        """GET /connectors/NAME/status for each name, concurrently (bounded)."""
        if not names:
            return {}
        with ThreadPoolExecutor(max_workers=min(FALLBACK_PARALLELISM, len(names)),
                                thread_name_prefix="kcplan-status") as pool:
            found = list(pool.map(self.status, names))
        return {status.name: status for status in sorted(found, key=lambda s: s.name)}

    def get_connector(self, name: str) -> LiveConnector:
        """GET /connectors/NAME and its status (two requests; list_connectors reads all in one)."""
        info = self._transport.request("GET", _cpath(name), name=name).json_object()
        status = self.status(name)
        return LiveConnector(
            name=name,
            config=live_config(info.get("config") or {}),
            type=str(info.get("type") or status.type or ""),
            status=status,
        )

    def get_config(self, name: str) -> dict[str, str]:
        return live_config(self._transport.request("GET", _cpath(name, "config"), name=name).json_object())

    def herder_round_trip(self, name: str) -> float:
        """Seconds the slowest configured worker took to answer ``GET /connectors/NAME/config``, asked
        one by one, without retries or failover. Each worker's herder thread serves it, so it stalls or
        answers 409/500 while THAT worker is in a rebalance: health verification uses it to tell a quiet
        cluster from a busy one, and the connector's own worker may be busy while another is not.
        Raises ConnectionFailed naming the worker when one does not answer 200."""
        return self._transport.time_each_worker(_cpath(name, "config"))

    def put_config(self, name: str, config: Mapping[str, str]) -> bool:
        """PUT /connectors/NAME/config: create or replace; True when created (201)."""
        try:
            reply = self._transport.request("PUT", _cpath(name, "config"), json=dict(config), name=name)
        except InvalidConfig as exc:
            raise self._with_validation(exc, name, config) from None
        return reply.status == 201

    def patch_config(self, name: str, patch: Mapping[str, str | None]) -> dict[str, str]:
        """PATCH /connectors/NAME/config (Connect 3.8+; None removes a key); returns the new config."""
        self._require("patch_config", "PATCH /connectors/NAME/config")
        reply = self._transport.request("PATCH", _cpath(name, "config"), json=dict(patch), name=name)
        body = reply.json_object()
        config = body.get("config")
        return live_config(config if isinstance(config, dict) else body)

    def create(self, name: str, config: Mapping[str, str], initial_state: str | None = None) -> None:
        """POST /connectors (not idempotent: a Conflict may be our own earlier attempt; read back)."""
        payload: dict[str, Any] = {"name": name, "config": dict(config)}
        if initial_state not in (None, "RUNNING"):  # RUNNING is the default: left out for older workers
            self._require("initial_state", f"creating a connector in state {initial_state}")
            payload["initial_state"] = initial_state
        try:
            self._transport.request("POST", "/connectors", json=payload, name=name)
        except InvalidConfig as exc:
            raise self._with_validation(exc, name, config) from None

    def delete(self, name: str) -> None:
        """DELETE /connectors/NAME; a connector that is already gone counts as deleted."""
        try:
            self._transport.request("DELETE", _cpath(name), name=name)
        except NotFound:
            return

    def pause(self, name: str) -> None:
        self._transport.request("PUT", _cpath(name, "pause"), name=name)

    def resume(self, name: str) -> None:
        self._transport.request("PUT", _cpath(name, "resume"), name=name)

    def stop(self, name: str) -> None:
        self._require("stop", "stopping a connector")
        self._transport.request("PUT", _cpath(name, "stop"), name=name)

    def restart(self, name: str, include_tasks: bool = False,
                only_failed: bool = False) -> ConnectorStatus | None:
        """POST /connectors/NAME/restart (not idempotent: every accepted call bounces the connector).

        With include_tasks/only_failed (Connect 3.0+) the worker answers 202 and the status in which
        whatever it restarts shows RESTARTING; that status is returned. A plain restart returns None.
        """
        params: list[tuple[str, str]] = []
        if include_tasks or only_failed:
            self._require("restart_tasks", "restart with includeTasks/onlyFailed")
            params = [("includeTasks", _flag(include_tasks)), ("onlyFailed", _flag(only_failed))]
        reply = self._transport.request("POST", _cpath(name, "restart"), params=params or None, name=name)
        if reply.is_json and isinstance(reply.body, dict) and "connector" in reply.body:
            return ConnectorStatus.from_json(name, reply.body)
        return None

    def status(self, name: str) -> ConnectorStatus:
        """GET /connectors/NAME/status; 404 (no status written yet, or no such connector) -> state None."""
        try:
            body = self._transport.request("GET", _cpath(name, "status"), name=name).json_object()
        except NotFound:
            return ConnectorStatus(name=name, state=None)
        return ConnectorStatus.from_json(name, body)

    def validate_config(self, connector_class: str, config: Mapping[str, str]) -> dict[str, list[str]]:
        """PUT /connector-plugins/CLASS/config/validate: {key: [messages]}, {} when valid. Changes nothing.

        Connect requires ``name`` in the body; a placeholder is added when the config has none.
        """
        body = dict(config)
        body.setdefault("connector.class", connector_class)
        body.setdefault("name", "kcplan-validate")
        path = f"/connector-plugins/{_q(connector_class)}/config/validate"
        reply = self._transport.request("PUT", path, json=body, write=False)
        secrets = self._transport.secrets_of(body)
        return {key: [scrub(m, secrets) for m in messages]
                for key, messages in validation_errors(reply.json_object()).items()}

    def plugins(self, connectors_only: bool = True) -> list[dict[str, Any]]:
        """GET /connector-plugins (with connectors_only=False also converters, transforms, predicates)."""
        params = None if connectors_only else [("connectorsOnly", "false")]
        return [p for p in self._transport.request("GET", "/connector-plugins", params=params).json_list()
                if isinstance(p, dict)]

    def plugin_config(self, connector_class: str) -> list[dict[str, Any]]:
        """GET /connector-plugins/CLASS/config: the config definitions (type PASSWORD marks secrets)."""
        self._require("plugin_config", "reading a plugin's config definitions")
        reply = self._transport.request("GET", f"/connector-plugins/{_q(connector_class)}/config")
        return [d for d in reply.json_list() if isinstance(d, dict)]

    def health(self) -> dict[str, Any]:
        """GET /health (Connect 3.9+): {'status': 'healthy'|'starting'|'unhealthy', 'message': ...}.

        503 (starting) and 500 (unhealthy) are answers here, not errors.
        """
        self._require("health", "GET /health")
        return self._transport.request("GET", "/health", accept=(500, 503)).json_object()

    # -- helpers of the endpoints -----------------------------------------------------------------------

    def offsets(self, name: str) -> list[ConnectorOffset]:
        """GET /connectors/NAME/offsets (Connect 3.5+): committed offsets; empty before the first commit."""
        self._require("offsets", "reading connector offsets")
        body = self._transport.request("GET", _cpath(name, "offsets"), name=name).json_object()
        return ConnectorOffset.list_from_json(body)

    def alter_offsets(self, name: str, offsets: Sequence[ConnectorOffset]) -> str:
        """PATCH /connectors/NAME/offsets (3.6+, connector STOPPED); the worker's message. Idempotent."""
        self._require("alter_offsets", "altering connector offsets")
        payload = {"offsets": [{"partition": o.partition, "offset": o.offset} for o in offsets]}
        reply = self._transport.request("PATCH", _cpath(name, "offsets"), json=payload, name=name)
        return str(reply.json_object().get("message", ""))

    def reset_offsets(self, name: str) -> str:
        """DELETE /connectors/NAME/offsets (3.6+, connector STOPPED); the worker's message. Idempotent."""
        self._require("alter_offsets", "resetting connector offsets")
        reply = self._transport.request("DELETE", _cpath(name, "offsets"), name=name)
        return str(reply.json_object().get("message", ""))

    def _require(self, feature: str, what: str) -> None:
        info = self.server_info()
        if not info.supports(feature):
            since = ".".join(str(p) for p in FEATURE_SINCE[feature][:2])
            raise ConnectError(
                f"{what} needs Kafka Connect {since} or newer; the worker at {redact_url(self.current_url)} "
                f"runs {info.version or 'an unknown version'}",
                "Upgrade the Connect cluster, or leave out the setting that needs it.",
            )

    def _read_each(self, names: list[str]) -> dict[str, LiveConnector]:
        """Read connectors one by one, concurrently (bounded); a connector gone meanwhile is skipped."""
        def one(name: str) -> LiveConnector | None:
            try:
                return self.get_connector(name)
            except NotFound:
                return None

        if not names:
            return {}
        with ThreadPoolExecutor(max_workers=min(FALLBACK_PARALLELISM, len(names)),
                                thread_name_prefix="kcplan-read") as pool:
            results = list(pool.map(one, names))
        return {live.name: live for live in sorted((r for r in results if r), key=lambda c: c.name)}

    def _with_validation(self, exc: InvalidConfig, name: str, config: Mapping[str, str]) -> InvalidConfig:
        """Connect's 400 lists messages without keys; when some stay unattributed, ask /validate which."""
        cls = config.get("connector.class")
        if GENERAL_KEY not in exc.errors or not cls:
            return exc
        try:
            errors = self.validate_config(cls, {"name": name, **config})
        except ConnectError:
            return exc
        if errors:
            exc.errors = errors
        return exc


def live_from_expand(name: str, entry: Any) -> LiveConnector | None:
    """One entry of the expand answer; None when its info is missing (status alone may be missing)."""
    if not isinstance(entry, dict):
        return None
    info, status = entry.get("info"), entry.get("status")
    if not isinstance(info, dict) or not isinstance(info.get("config"), dict):
        return None
    parsed = ConnectorStatus.from_json(name, status) if isinstance(status, dict) else None
    kind = info.get("type") or (parsed.type if parsed else "")
    return LiveConnector(name=name, config=live_config(info["config"]), type=str(kind or ""), status=parsed)


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _q(segment: str) -> str:
    """URL-encode one path segment completely ('/', '?', '#', '%' and spaces included)."""
    return quote(segment, safe="")


def _cpath(name: str, *rest: str) -> str:
    return "/".join(["/connectors", _q(name), *rest])
