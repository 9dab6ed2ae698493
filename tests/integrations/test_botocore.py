"""S3 operations telemetry through botocore hooks, against moto's server mode with injected faults."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest

from telemetry.integrations.botocore import (
    classify_response,
    instrument_client,
    instrument_session,
    uninstrument_client,
    uninstrument_session,
)
from telemetry.testing import capture
from tests.integrations.pool_support import FaultProxy, s3_client

pytest.importorskip("boto3")
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

OPS = "resilience_dependency_operations_total"
RETRIES = "resilience_dependency_client_retries_total"


def ops(cap: Any, operation: str, outcome: str) -> float | None:
    return cap.sample(OPS, dependency="s3", operation=operation, outcome=outcome)


def bucket_name() -> str:
    return f"telemetry-{uuid.uuid4().hex[:12]}"


def round_trip(client: Any, bucket: str, key: str) -> None:
    """Create, put, get back, and get a missing key (NoSuchKey): the results are what S3 answers."""
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key=key, Body=b"hello")
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"hello"
    with pytest.raises(ClientError) as raised:
        client.get_object(Bucket=bucket, Key="missing")
    assert raised.value.response["Error"]["Code"] == "NoSuchKey"


@pytest.fixture(autouse=True)
def _instant_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard retry mode sleeps up to seconds between attempts; tests do not wait for it."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda _self, _context: 0.001)


@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        (200, None, "success"),
        (204, None, "success"),
        (404, "NoSuchKey", "client_error"),
        (403, "AccessDenied", "client_error"),
        (429, None, "throttled"),
        (400, "ThrottlingException", "throttled"),
        (503, "SlowDown", "throttled"),
        (503, "ServiceUnavailable", "server_error"),
        (500, "InternalError", "server_error"),
    ],
)
def test_http_answers_are_classified(status: int, code: str | None, outcome: str) -> None:
    """Throttling codes and 429 are `throttled` whatever the status; other 5xx are server errors, 4xx client errors."""
    assert classify_response(status, code) == outcome


def test_operations_are_counted_by_operation_and_outcome_without_bucket_or_key(fault_proxy: FaultProxy) -> None:
    """Successful calls and a NoSuchKey are counted with exactly {dependency, operation, outcome}; the failure
    logs its AWS error code as error.type; bucket and key appear in no label."""
    client = s3_client(fault_proxy.url)
    instrument_client(client)
    bucket = bucket_name()
    with capture() as cap:
        round_trip(client, bucket, "secret/key.txt")
        assert sorted(cap.series(OPS), key=lambda s: (s["operation"], s["outcome"])) == [
            {"dependency": "s3", "operation": "CreateBucket", "outcome": "success"},
            {"dependency": "s3", "operation": "GetObject", "outcome": "client_error"},
            {"dependency": "s3", "operation": "GetObject", "outcome": "success"},
            {"dependency": "s3", "operation": "PutObject", "outcome": "success"},
        ]
        assert ops(cap, "GetObject", "success") == 1.0
        assert cap.sample("resilience_dependency_duration_seconds_count", dependency="s3", operation="GetObject") == 2.0
        failed = [line for line in cap.logs if line["event"] == "telemetry.dependency.failed"]
        assert len(failed) == 1
        assert 0 < failed[0].pop("resilience.dependency.duration_s") < 5
        assert failed == [
            {
                "event": "telemetry.dependency.failed",
                "log_level": "info",
                "resilience.dependency.name": "s3",
                "resilience.dependency.operation": "GetObject",
                "resilience.dependency.outcome": "client_error",
                "resilience.dependency.client_retries": 0,
                "http.response.status_code": 404,
                "error.type": "NoSuchKey",
            }
        ]
        exposition = str([sample for metric in cap.registry.collect() for sample in metric.samples])
        assert bucket not in exposition
        assert "secret" not in exposition


def test_failure_ratio_equals_the_injected_ratio(fault_proxy: FaultProxy) -> None:
    """20 PutObjects with 7 injected faults (500, 503, SlowDown) and botocore retries off: the metric's failure
    ratio is exactly 7/20, split into server_error and throttled."""
    client = s3_client(fault_proxy.url, attempts=1)
    bucket = bucket_name()
    client.create_bucket(Bucket=bucket)
    instrument_client(client)
    faults = {2: (500, "InternalError"), 5: (503, "ServiceUnavailable"), 6: (503, "SlowDown"), 9: (500, "InternalError"),
              13: (503, "SlowDown"), 17: (503, "ServiceUnavailable"), 19: (500, "InternalError")}  # fmt: skip
    fault_proxy.plan = [faults.get(n) for n in range(20)]
    with capture() as cap:
        failed = 0
        for n in range(20):
            try:
                client.put_object(Bucket=bucket, Key=f"k{n}", Body=b"x")
            except ClientError:
                failed += 1
        total = sum(
            value for outcome in ("success", "server_error", "throttled") if (value := ops(cap, "PutObject", outcome))
        )
        failures = (ops(cap, "PutObject", "server_error") or 0) + (ops(cap, "PutObject", "throttled") or 0)
        assert (failed, total, failures / total) == (7, 20.0, 7 / 20)
        assert {outcome: ops(cap, "PutObject", outcome) for outcome in ("success", "server_error", "throttled")} == {
            "success": 13.0,
            "server_error": 5.0,
            "throttled": 2.0,
        }
        assert cap.series(RETRIES) == []


def test_botocores_own_retries_are_counted_and_the_call_counted_once(fault_proxy: FaultProxy) -> None:
    """With 3 attempts, 500 then SlowDown then success is one successful PutObject with 2 client retries and a
    span event; three 500s are one server_error with 2 retries."""
    client = s3_client(fault_proxy.url, attempts=3)
    bucket = bucket_name()
    client.create_bucket(Bucket=bucket)
    with capture() as cap:
        # client spans into the captured provider, whatever global provider an earlier test left
        instrument_client(client, tracer_provider=cap.tracer_provider)
        fault_proxy.plan = [(500, "InternalError"), (503, "SlowDown")]
        with cap.tracer.start_as_current_span("upload"):
            client.put_object(Bucket=bucket, Key="a", Body=b"x")
        fault_proxy.plan = [(500, "InternalError")] * 3
        with pytest.raises(ClientError):
            client.put_object(Bucket=bucket, Key="b", Body=b"x")
        assert (ops(cap, "PutObject", "success"), ops(cap, "PutObject", "server_error")) == (1.0, 1.0)
        assert cap.sample(RETRIES, dependency="s3", operation="PutObject") == 4.0
        events = [
            (span.name, event.name, event.attributes["resilience.dependency.client_retries"])  # type: ignore[index]
            for span in cap.spans()
            for event in span.events
            if event.name == "telemetry.dependency.succeeded"
        ]
        assert events == [("S3.PutObject", "telemetry.dependency.succeeded", 2)]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_closed_port_is_a_connection_error() -> None:
    """Nothing listening: botocore raises EndpointConnectionError and the operation counts as connection_error."""
    client = s3_client(f"http://127.0.0.1:{closed_port()}", attempts=1)
    instrument_client(client)
    with capture() as cap:
        with pytest.raises(EndpointConnectionError):
            client.head_bucket(Bucket="any")
        assert cap.series(OPS) == [{"dependency": "s3", "operation": "HeadBucket", "outcome": "connection_error"}]
        [line] = cap.logs
        assert (line["error.type"], line["resilience.dependency.outcome"]) == (
            "EndpointConnectionError",
            "connection_error",
        )


def test_a_silent_server_is_a_timeout(fault_proxy: FaultProxy) -> None:
    """A server that answers nothing within read_timeout gives ReadTimeoutError, counted as timeout."""
    client = s3_client(fault_proxy.url, attempts=1, read_timeout=0.2)
    instrument_client(client)
    fault_proxy.plan = [("hang", 1.0)]
    with capture() as cap:
        with pytest.raises(ReadTimeoutError):
            client.list_buckets()
        assert cap.series(OPS) == [{"dependency": "s3", "operation": "ListBuckets", "outcome": "timeout"}]
        assert cap.logs[0]["error.type"] == "ReadTimeoutError"


def test_a_stubbed_client_error_is_counted(fault_proxy: FaultProxy) -> None:
    """botocore's Stubber answering AccessDenied (no network) is still one client_error."""
    from botocore.stub import Stubber

    client = s3_client(fault_proxy.url)
    instrument_client(client)
    with capture() as cap, Stubber(client) as stubber:
        stubber.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(ClientError):
            client.get_object(Bucket="b", Key="k")
        assert cap.series(OPS) == [{"dependency": "s3", "operation": "GetObject", "outcome": "client_error"}]
        assert fault_proxy.requests == 0


def test_instrumenting_twice_counts_once_and_uninstrument_stops(fault_proxy: FaultProxy) -> None:
    """The hooks have unique ids: a second instrument_client adds nothing; after uninstrument_client nothing is recorded."""
    client = s3_client(fault_proxy.url)
    instrument_client(client)
    instrument_client(client)
    with capture() as cap:
        client.list_buckets()
        assert ops(cap, "ListBuckets", "success") == 1.0
        uninstrument_client(client)
        client.list_buckets()
        assert ops(cap, "ListBuckets", "success") == 1.0
        assert len(cap.logs) == 1


def test_a_session_instruments_the_clients_it_creates(fault_proxy: FaultProxy) -> None:
    """instrument_session covers clients created afterwards; uninstrument_session stops new ones."""
    import boto3

    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    instrument_session(session)
    instrument_session(session)
    with capture() as cap:
        session.client("s3", endpoint_url=fault_proxy.url).list_buckets()
        uninstrument_session(session)
        session.client("s3", endpoint_url=fault_proxy.url).list_buckets()
        assert ops(cap, "ListBuckets", "success") == 1.0


def test_a_raising_sink_changes_no_result_and_no_error(fault_proxy: FaultProxy) -> None:
    """With a sink that raises, calls return the same data and S3 errors raise the same ClientError."""

    def raising(_event: object) -> None:
        raise RuntimeError("sink down")

    client = s3_client(fault_proxy.url)
    instrument_client(client)
    bucket = bucket_name()
    with capture(extra_sinks=[raising]) as cap:
        round_trip(client, bucket, "k")
        assert cap.sample("resilience_telemetry_sink_errors_total", sink="raising") == 4.0


def test_concurrent_calls_on_one_client_are_each_counted(fault_proxy: FaultProxy) -> None:
    """Eight threads sharing one instrumented client: every call is counted once, with its own duration."""
    from concurrent.futures import ThreadPoolExecutor

    client = s3_client(fault_proxy.url)
    instrument_client(client)
    with capture() as cap, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: client.list_buckets()["ResponseMetadata"]["HTTPStatusCode"], range(40)))
        assert results == [200] * 40
        assert ops(cap, "ListBuckets", "success") == 40.0
        assert (
            cap.sample("resilience_dependency_duration_seconds_count", dependency="s3", operation="ListBuckets") == 40.0
        )
