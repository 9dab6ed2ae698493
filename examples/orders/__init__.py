"""The reference order service: a small FastAPI app in the spirit of the services this
package is built for, instrumented only through the package's public API.

It writes orders with SQLAlchemy (an outbox row in the same transaction), relays
``order.created`` to a broker, consumes it (or dead-letters it), stores avatars in S3 behind a
circuit breaker, and serves health endpoints. A fault-injection control, off unless
``ORDERS_FAULTS=1``, lets the drill break each dependency on purpose.
"""
