"""OpenTelemetry trace context, carried from HTTP to gRPC and from service to service.

Propagation is always on: the W3C ``traceparent``/``tracestate`` of an HTTP request reaches every
RPC made for it, and each access log line names its ``trace_id``. Recording and exporting spans
is off by default (the API's no-op tracer passes the caller's context through unchanged and
costs next to nothing); ``OTEL_TRACES_EXPORTER=otlp`` (with the standard ``OTEL_EXPORTER_OTLP_*``
variables) or ``console`` turns it on at start.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from udb.config import ConfigError, Env

log = logging.getLogger("udb.tracing")

tracer = trace.get_tracer("udb")

#: The metadata keys the W3C propagator reads and writes.
TRACE_HEADERS = frozenset({"traceparent", "tracestate"})


def configure_tracing(service: str, env: Env | None = None) -> bool:
    """Installs a recording tracer provider when ``OTEL_TRACES_EXPORTER`` asks for one.

    Returns whether spans are exported. Called once per process, at start.
    """
    env = env or Env()
    exporter_name = env.str("OTEL_TRACES_EXPORTER", "none").lower()
    if exporter_name == "none":
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if exporter_name == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    elif exporter_name == "console":
        exporter = ConsoleSpanExporter()
    else:
        raise ConfigError(f"OTEL_TRACES_EXPORTER must be none, otlp or console, not {exporter_name!r}")
    provider = TracerProvider(resource=Resource.create({"service.name": env.str("OTEL_SERVICE_NAME", service)}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    log.info("exporting traces", extra={"exporter": exporter_name})
    return True


def exporting() -> bool:
    """Whether spans are recorded: :func:`configure_tracing` installed a tracer provider."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def extract(headers: Iterable[tuple[str, str | bytes]]) -> otel_context.Context | None:
    """The trace context a caller sent (HTTP headers or gRPC metadata), or None without one."""
    carrier: dict[str, str] = {}
    for key, value in headers:
        if key in TRACE_HEADERS:
            carrier[key] = value.decode("latin-1") if isinstance(value, bytes) else value
    if not carrier:
        return None
    return propagate.extract(carrier)


def trace_metadata() -> tuple[tuple[str, str], ...]:
    """gRPC metadata that carries the current trace context on."""
    if not trace.get_current_span().get_span_context().is_valid:
        return ()  # no trace to carry (extract() takes no baggage in): skip the propagators
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(carrier.items())
