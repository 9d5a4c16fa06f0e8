"""Test tooling for code that calls LLM APIs, used by llm-retry's own tests and yours.

- [`FaultServer`][llm_retry.testing.FaultServer]: a local HTTP server that speaks enough
  OpenAI and Anthropic for the real SDK clients, answering each request with the next
  scripted [`Reply`][llm_retry.testing.Reply] (any status, headers, delays, dropped
  connections) and recording it as a [`RecordedRequest`][llm_retry.testing.RecordedRequest].
- `openai_error`, `anthropic_error`, `openai_timeout`, `openai_connection_error`,
  `anthropic_timeout`, `anthropic_connection_error`: the exceptions the SDKs raise,
  built without a network.

- `no_wait`: skip every wait on a virtual clock and record it; `capture_events`: collect
  llm-retry's events whatever structlog's configuration.

The SDKs are optional: importing this package does not import them.
"""

from llm_retry.testing._factories import (
    anthropic_connection_error,
    anthropic_error,
    anthropic_timeout,
    openai_connection_error,
    openai_error,
    openai_timeout,
)
from llm_retry.testing._modes import capture_events, no_wait
from llm_retry.testing._replies import RecordedRequest, Reply
from llm_retry.testing._server import FaultServer

__all__ = [
    "FaultServer",
    "RecordedRequest",
    "Reply",
    "anthropic_connection_error",
    "anthropic_error",
    "anthropic_timeout",
    "capture_events",
    "no_wait",
    "openai_connection_error",
    "openai_error",
    "openai_timeout",
]
