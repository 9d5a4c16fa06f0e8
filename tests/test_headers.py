"""Retry-After parsing: seconds, floats, milliseconds, HTTP dates; garbage ignored with a reason."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_retry.headers import parse_delay, server_hint

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "seconds", "source"),
    [
        ({"retry-after": "7"}, 7.0, "retry-after"),
        ({"Retry-After": "1.5"}, 1.5, "retry-after"),
        ({"retry-after-ms": "300"}, 0.3, "retry-after-ms"),
        ({"retry-after-ms": "300", "retry-after": "9"}, 0.3, "retry-after-ms"),
        ({"Retry-After": "0"}, 0.0, "retry-after"),
    ],
)
def test_numeric_hints(headers, seconds, source):
    """retry-after-ms is read first, then Retry-After; names are case-insensitive."""
    hint = server_hint(headers, now=NOW)
    assert hint.seconds == pytest.approx(seconds)
    assert hint.source == source
    assert hint.ignored == ()


def test_http_date_hint_counts_from_now():
    """An HTTP date means the seconds from now until then; a past date means no wait."""
    future = format_datetime(datetime.fromtimestamp(NOW + 30, tz=timezone.utc), usegmt=True)
    past = format_datetime(datetime.fromtimestamp(NOW - 30, tz=timezone.utc), usegmt=True)
    assert server_hint({"retry-after": future}, now=NOW).seconds == pytest.approx(30)
    assert server_hint({"retry-after": past}, now=NOW).seconds == 0.0


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"retry-after": "soon"}, "retry-after ignored: 'soon' is neither a number of seconds"),
        ({"retry-after": "-3"}, "retry-after ignored: '-3' is negative"),
        ({"retry-after": "nan"}, "retry-after ignored: 'nan' is not a finite number"),
        ({"retry-after": "inf"}, "retry-after ignored: 'inf' is not a finite number"),
        ({"retry-after-ms": "Tue, 15 Nov 1994 08:12:31 GMT"}, "is not a number of milliseconds"),
    ],
)
def test_garbage_is_ignored_with_a_reason(headers, reason):
    """A header that cannot be read gives no hint and records why."""
    hint = server_hint(headers, now=NOW)
    assert hint.seconds is None
    assert any(reason in text for text in hint.ignored)


def test_garbage_ms_falls_back_to_retry_after():
    """A bad retry-after-ms does not hide a good Retry-After, and the reason is kept."""
    hint = server_hint({"retry-after-ms": "x", "retry-after": "4"}, now=NOW)
    assert (hint.seconds, hint.source) == (4.0, "retry-after")
    assert hint.ignored == ("retry-after-ms ignored: 'x' is not a number of milliseconds",)


def test_no_headers_no_hint():
    """No headers (or none of ours) means no hint and nothing ignored."""
    assert server_hint(None, now=NOW).seconds is None
    assert server_hint({"x-other": "1"}, now=NOW).ignored == ()


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False))
def test_any_non_negative_number_round_trips(value):
    """Every non-negative finite number of seconds is read back as itself."""
    assert parse_delay(repr(value), now=NOW) == value
    assert parse_delay(repr(value), now=NOW, milliseconds=True) == pytest.approx(value / 1000)


@given(st.text(max_size=40))
def test_arbitrary_text_never_raises_past_the_parser(text):
    """Any header text yields a non-negative finite hint or an ignored reason, never a crash."""
    hint = server_hint({"retry-after": text, "retry-after-ms": text}, now=NOW)
    if hint.seconds is None:
        assert len(hint.ignored) == 2
    else:
        assert hint.seconds >= 0
        assert math.isfinite(hint.seconds)


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_http_dates_are_never_negative(offset):
    """An HTTP date anywhere around now gives a wait >= 0 that matches the offset."""
    value = format_datetime(datetime.fromtimestamp(NOW + offset, tz=timezone.utc), usegmt=True)
    assert parse_delay(value, now=NOW) == max(0, offset)
