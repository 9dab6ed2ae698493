"""Rendering ``/metrics``, and keeping it away from the public internet.

:func:`render` does content negotiation (OpenMetrics carries exemplars) and prometheus-client's
multiprocess mode, where each scrape aggregates the workers' files.

Two ways to expose the metrics safely:

* :func:`serve_metrics` serves them on a separate port, bound to loopback by default, so the
  public listener has no ``/metrics`` at all (``instrument_app(app, metrics_path=None)``).
* :class:`AccessPolicy` protects an endpoint on the public port with a bearer token (compared
  in constant time) and/or a client-address allow-list; ``instrument_app(app,
  metrics_token=..., metrics_allow=[...])`` uses it, and so can health-detail endpoints.

With nothing configured, ``instrument_app`` answers ``/metrics`` for :data:`PRIVATE_NETWORKS`
only and ``/health/detailed`` for :data:`LOOPBACK` only.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final

from telemetry.metrics import multiprocess_enabled

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from prometheus_client import CollectorRegistry

__all__ = [
    "LOOPBACK",
    "PRIVATE_NETWORKS",
    "AccessPolicy",
    "MetricsServer",
    "denied_headers",
    "render",
    "serve_metrics",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Default audience of ``/health/detailed`` (it names dependencies and their error types).
LOOPBACK: Final = ("127.0.0.0/8", "::1/128")
#: Default audience of ``/metrics`` on the app port: loopback and private networks (RFC 1918,
#: IPv6 unique-local, link-local), where an in-cluster Prometheus scrapes from; never the internet.
PRIVATE_NETWORKS: Final = (
    *LOOPBACK,
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
)


def render(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The exposition body and its content type for a scrape with this ``Accept`` header.

    Prometheus asks for OpenMetrics when it can store exemplars; plain text otherwise.
    """
    from prometheus_client import CollectorRegistry as Registry
    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(accept or "")
    if multiprocess_enabled():
        from prometheus_client import multiprocess

        from telemetry.multiprocess import sweep_dead_workers

        sweep_dead_workers()  # uvicorn has no child_exit hook: clean up after dead workers here
        per_scrape = Registry(support_collectors_without_names=True)
        per_scrape.register(_WithExemplars(multiprocess.MultiProcessCollector(None)))  # type: ignore[no-untyped-call]
        return encoder(per_scrape), content_type
    return encoder(registry), content_type


class _WithExemplars:
    """The workers' summed samples, with this worker's latest exemplars attached (the files
    have none; see :class:`telemetry.metrics.ExemplarStore`)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def collect(self) -> Iterator[Any]:
        from telemetry.metrics import EXEMPLARS

        for metric in self.inner.collect():
            if metric.type in ("counter", "histogram"):
                metric.samples = [
                    sample._replace(exemplar=found) if (found := EXEMPLARS.get(sample.name, sample.labels)) else sample
                    for sample in metric.samples
                ]
            yield metric


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Who may read a protected endpoint.

    Args:
        token: when set, requests must carry ``Authorization: Bearer <token>``; compared with
            :func:`hmac.compare_digest`, so the answer time does not reveal the token.
        allow: client addresses or networks (``"10.0.0.0/8"``, ``"::1"``); when non-empty the
            peer address must be inside one of them. Behind a proxy the peer is the proxy: put
            the allow-list on the proxy, or use a token.

    With both set, both must hold; with neither, everyone may read.
    """

    token: str | None = None
    allow: tuple[str, ...] = ()
    _networks: tuple[Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.token is not None and not self.token:
            msg = "an empty metrics token would protect nothing; pass None to disable it"
            raise ValueError(msg)
        networks = tuple(ipaddress.ip_network(entry, strict=False) for entry in self.allow)
        object.__setattr__(self, "_networks", networks)

    @property
    def open(self) -> bool:
        return self.token is None and not self._networks

    def status(self, authorization: str | None, client: str | None) -> int:
        """200 when allowed, 403 for an address outside the allow-list, 401 for a bad token."""
        if self._networks and not self._address_allowed(client):
            return 403
        if self.token is not None and not _bearer_matches(authorization, self.token):
            return 401
        return 200

    def _address_allowed(self, client: str | None) -> bool:
        try:
            address = ipaddress.ip_address((client or "").split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address.version == net.version and address in net for net in self._networks)


def _bearer_matches(authorization: str | None, token: str) -> bool:
    scheme, _, offered = (authorization or "").partition(" ")
    # Always run the comparison, so a wrong scheme takes as long as a wrong token.
    same = hmac.compare_digest(offered.strip().encode("utf-8", "replace"), token.encode("utf-8"))
    return same and scheme.lower() == "bearer"


def denied_headers(status: int) -> list[tuple[str, str]]:
    """Headers for a refused request: a 401 names the expected scheme."""
    return [("WWW-Authenticate", 'Bearer realm="metrics"')] if status == 401 else []


class MetricsServer:
    """A running :func:`serve_metrics` listener; ``close()`` stops it (safe to call twice)."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.address: str = str(server.server_address[0])
        self.port: int = int(server.server_address[1])

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()


def serve_metrics(
    port: int,
    addr: str = "127.0.0.1",
    *,
    registry: CollectorRegistry | None = None,
    token: str | None = None,
    allow: Iterable[str] = (),
) -> MetricsServer:
    """Serve ``GET /metrics`` on its own port in a daemon thread (``port=0`` picks a free one).

    Bound to loopback unless ``addr`` says otherwise. ``registry`` defaults to the one
    :func:`telemetry.setup` uses; in multiprocess mode every scrape aggregates all workers, so
    start one listener (e.g. in gunicorn's ``when_ready`` hook), not one per worker.
    """
    policy = AccessPolicy(token=token, allow=tuple(allow))

    def chosen_registry() -> CollectorRegistry:
        if registry is not None:
            return registry
        from telemetry.bootstrap import current

        found = current()
        if found is not None:
            return found.registry
        from prometheus_client import REGISTRY

        return REGISTRY

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._answer(404, b"not found\n", "text/plain; charset=utf-8")
                return
            status = policy.status(self.headers.get("Authorization"), self.client_address[0])
            if status != 200:
                self._answer(status, b"forbidden\n", "text/plain; charset=utf-8", denied_headers(status))
                return
            body, content_type = render(chosen_registry(), self.headers.get("Accept"))
            self._answer(200, body, content_type)

        def _answer(self, status: int, body: bytes, content_type: str, extra: Iterable[Any] = ()) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in extra:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
            """Scrapes are not worth a stderr line each."""

    server = ThreadingHTTPServer((addr, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="telemetry-metrics", daemon=True)
    thread.start()
    return MetricsServer(server, thread)
