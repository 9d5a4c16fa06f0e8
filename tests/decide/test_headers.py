"""Wait hints: Retry-After (seconds, floats, milliseconds, HTTP dates) and rate-limit resets.

Garbage is ignored with a reason.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import run_python
from llm_retry.decide.headers import parse_delay, parse_go_duration, parse_timestamp, server_hint

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


# -- rate-limit reset headers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("12ms", 0.012),
        ("1h2m3.5s", 3723.5),
        ("250us", 0.00025),
        ("7\u00b5s", 7e-6),
        ("0", 0.0),
        ("2.5", 2.5),
        (" 20ms ", 0.02),
    ],
)
def test_go_durations(text, seconds):
    """OpenAI's reset values are Go durations; a bare number is seconds."""
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-1s", "is negative"),
        ("soon", "is not a duration"),
        ("1d", "is not a duration"),
        ("s", "is not a duration"),
        ("", "is not a duration"),
        ("inf", "is not a finite number"),
    ],
)
def test_bad_go_durations_say_why(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_go_duration(text)


def test_openai_reset_of_a_used_up_limit_is_a_soft_hint():
    """Only limits with nothing remaining count; the longest wait among them wins."""
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1.5s",
        "x-ratelimit-remaining-tokens": "1200",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    hint = server_hint(headers, now=NOW)
    assert (hint.seconds, hint.source, hint.soft) == (1.5, "x-ratelimit-reset-requests", True)
    headers["x-ratelimit-remaining-tokens"] = "0"
    assert server_hint(headers, now=NOW).seconds == 360.0


def test_a_known_limit_refills_one_unit_at_a_time():
    """With the limit's size, the wait is for one unit: reset / limit (continuous refill)."""
    headers = {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0s",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "1m0s",
    }
    hint = server_hint(headers, now=NOW)
    assert (hint.seconds, hint.source) == (1.0, "x-ratelimit-reset-requests")
    for unreadable in ("lots", "\u00b2", "0", "-5", "9" * 5000):  # the whole reset
        headers["x-ratelimit-limit-requests"] = unreadable
        assert server_hint(headers, now=NOW).seconds == 60.0


def test_retry_after_beats_a_reset_and_is_firm():
    headers = {
        "retry-after": "3",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "20s",
    }
    hint = server_hint(headers, now=NOW)
    assert (hint.seconds, hint.source, hint.soft) == (3.0, "retry-after", False)


def test_reset_of_a_limit_with_capacity_left_is_no_hint():
    headers = {"x-ratelimit-remaining-requests": "3", "x-ratelimit-reset-requests": "20s"}
    assert server_hint(headers, now=NOW) == server_hint(None, now=NOW)


def test_anthropic_reset_is_a_timestamp():
    """anthropic-ratelimit-*-reset is RFC 3339: (time until then) / limit, 0 once past."""
    later = datetime.fromtimestamp(NOW + 84, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "anthropic-ratelimit-input-tokens-limit": "2",
        "anthropic-ratelimit-input-tokens-remaining": "0",
        "anthropic-ratelimit-input-tokens-reset": later,
    }
    hint = server_hint(headers, now=NOW)
    assert hint.seconds == pytest.approx(42)
    assert (hint.source, hint.soft) == ("anthropic-ratelimit-input-tokens-reset", True)
    assert server_hint(headers, now=NOW + 100).seconds == 0.0


@pytest.mark.parametrize(
    ("text", "posix"),
    [
        ("2023-11-14T22:13:20Z", NOW),
        ("2023-11-14T22:13:20.25Z", NOW + 0.25),
        ("2023-11-14T23:13:20+01:00", NOW),
        ("2023-11-14t21:13:20-01:00", NOW),
        ("2023-11-14T22:13:20.123456789Z", NOW + 0.123456789),
    ],
)
def test_rfc3339_timestamps(text, posix):
    assert parse_timestamp(text) == pytest.approx(posix, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    ["2023-11-14T22:13:20", "2023-13-14T22:13:20Z", "yesterday", "2023-11-14T22:13:20+25:00"],
)
def test_bad_timestamps_say_why(text):
    with pytest.raises(ValueError, match="timestamp"):
        parse_timestamp(text)


def test_garbage_reset_is_ignored_with_a_reason():
    headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "later"}
    hint = server_hint(headers, now=NOW)
    assert hint.seconds is None
    assert hint.ignored == (
        "x-ratelimit-reset-tokens ignored: 'later' is not a duration such as '1s', '6m0s' or "
        "'250ms'",
    )


_GO_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


@given(
    st.lists(
        st.tuples(st.integers(0, 10**6), st.sampled_from(sorted(_GO_UNIT_SECONDS))),
        min_size=1,
        max_size=5,
    )
)
def test_go_durations_add_up(parts):
    """Any sequence of whole-number parts reads back as their sum in seconds."""
    text = "".join(f"{amount}{unit}" for amount, unit in parts)
    expected = sum(amount * _GO_UNIT_SECONDS[unit] for amount, unit in parts)
    assert parse_go_duration(text) == pytest.approx(expected)


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1)),
    st.integers(-1439, 1439),
)
def test_any_zoned_timestamp_reads_back(when, offset_minutes):
    """Every RFC 3339 rendering (offsets in whole minutes) reads back as the same instant."""
    aware = when.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    assert parse_timestamp(aware.isoformat()) == pytest.approx(aware.timestamp(), abs=1e-6)


@given(st.text(max_size=40), st.sampled_from(["0", " 0 "]), st.text(max_size=12))
def test_arbitrary_reset_text_never_crashes(text, remaining, limit):
    """Any reset (and limit) text gives a non-negative finite soft hint or an ignored reason."""
    headers = {
        "x-ratelimit-limit-requests": limit,
        "x-ratelimit-remaining-requests": remaining,
        "x-ratelimit-reset-requests": text,
        "anthropic-ratelimit-tokens-limit": limit,
        "anthropic-ratelimit-tokens-remaining": remaining,
        "anthropic-ratelimit-tokens-reset": text,
    }
    hint = server_hint(headers, now=NOW)
    if hint.seconds is None:
        assert len(hint.ignored) == 2
    else:
        assert hint.soft
        assert hint.seconds >= 0
        assert math.isfinite(hint.seconds)


_HOSTILE = """
from llm_retry.decide.headers import server_hint
value = "111111s" * 5000 + "x"  # exponential backtracking for an ambiguous number pattern
hint = server_hint(
    {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": value}, now=0.0
)
print(hint.seconds, hint.ignored[0])
"""


def test_a_hostile_reset_header_is_rejected_in_linear_time():
    """A long near-duration is ignored at once (in a child process, so a regression cannot hang
    the suite: the regular expression engine holds the GIL)."""
    out = run_python("-c", _HOSTILE, timeout=20)
    assert out.strip() == (
        "None x-ratelimit-reset-tokens ignored: '111111s111111s111111s111111s111111s11111'... "
        "(35001 chars) is not a duration such as '1s', '6m0s' or '250ms'"
    )
