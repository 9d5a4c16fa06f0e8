"""The pacer's algorithm with explicit times: slow start, measured quotas, windows, AIMD."""

from __future__ import annotations

import pytest

from llm_retry.decide.pacing import COLD, Pacer, Ticket


def go(pacer, now, not_before=0.0, held=None):
    """Admit at ``now`` and insist it was immediate; return the ticket."""
    delay, ticket = pacer.admit(now, not_before, held)
    assert delay == 0.0
    assert ticket is not None
    assert ticket.admitted
    return ticket


def learn(pacer, sends=30, admitted=20, hint=1.0, now=100.0):
    """A slow start of ``sends`` sends at ``now`` of which all but ``admitted`` are refused."""
    pacer.cwnd = sends
    tickets = [go(pacer, now) for _ in range(sends)]
    for ticket in tickets[:admitted]:
        pacer.settle(ticket, True, now + 0.01)
    for ticket in tickets[admitted:]:
        pacer.settle(ticket, False, now + 0.01)
        pacer.throttled(ticket, hint, now + 0.02)
    return tickets


def test_slow_start_admits_the_initial_window_then_queues():
    """Ten sends go at once; the eleventh waits, and waits longer the further back it is."""
    pacer = Pacer()
    tickets = [go(pacer, 0.0) for _ in range(10)]
    delay, place = pacer.admit(0.0, 0.0, None)
    assert delay > 0
    assert place is not None
    assert not place.admitted
    assert place.window == COLD
    for ticket in tickets[:5]:
        pacer.settle(ticket, True, 0.1)
    assert pacer.cwnd == 15
    assert go(pacer, 0.1, held=place).seq == place.seq
    far_delay, _ = pacer.admit(0.1, 0.0, Ticket(pacer.epoch, COLD, place.seq + 100))
    assert far_delay > pacer.poll_interval()


def test_the_first_refusal_measures_the_quota():
    """Thirty sends of which ten are refused teach a quota of twenty per Retry-After period."""
    pacer = Pacer()
    learn(pacer, sends=30, admitted=20, hint=2.0)
    assert pacer.quota == 20
    assert pacer.period == 2.0
    assert pacer.anchor == pytest.approx(102.02)


def test_a_short_hint_sets_when_to_come_back_not_the_window_length():
    """A 50 ms hint (a token bucket's next unit) starts the windows then; they stay 1 s long."""
    pacer = Pacer()
    learn(pacer, sends=30, admitted=20, hint=0.05)
    assert pacer.quota == 20
    assert pacer.period == 1.0
    assert pacer.anchor == pytest.approx(100.07)
    starts = [round(100.03 + pacer.admit(100.03, 0.0, None)[0], 2) for _ in range(25)]
    assert starts == [100.07] * 20 + [101.07] * 5


def test_windows_admit_the_quota_in_order():
    """After learning 20 per second, senders get the next windows, twenty each, in order."""
    pacer = Pacer()
    learn(pacer)
    delays = [pacer.admit(100.05, 0.0, None)[0] for _ in range(45)]
    starts = [round(100.05 + d, 2) for d in delays]
    assert starts[:20] == [101.02] * 20
    assert starts[20:40] == [102.02] * 20
    assert starts[40:] == [103.02] * 5


def test_a_reservation_is_honoured_when_its_window_comes():
    """A held ticket is admitted at its window's start, without a new reservation."""
    pacer = Pacer()
    learn(pacer)
    delay, ticket = pacer.admit(100.05, 0.0, None)
    assert ticket is not None
    admitted = go(pacer, 100.05 + delay, held=ticket)
    assert (admitted.epoch, admitted.window, admitted.seq) == (ticket.epoch, 0, 0)


def test_a_refused_window_measures_again_never_below_beta():
    """A window the server mostly refused cuts the quota, but to no less than 0.7 of it."""
    pacer = Pacer()
    learn(pacer)
    now = 101.02
    sent = [go(pacer, now) for _ in range(2)]
    pacer.throttled(sent[0], 1.0, now + 0.01)
    assert pacer.quota == 14  # measured 2 - 1, floored at 0.7 * 20


def test_each_further_refusal_of_the_measured_window_lowers_the_quota():
    """Refusals that arrive after the first one, from the same window, count one each."""
    pacer = Pacer()
    tickets = learn(pacer, sends=30, admitted=20)
    assert pacer.quota == 20
    pacer.throttled(tickets[25], 1.0, 100.03)  # a duplicate report changes nothing more
    assert pacer.quota == 19


def test_full_windows_past_the_plateau_raise_the_quota():
    """Four windows at the measured quota, then each full window adds one."""
    pacer = Pacer()
    learn(pacer)
    sent = []
    for window in range(8):
        start, count = 101.02 + window, 0
        while True:  # fill the window with as many sends as it admits
            delay, ticket = pacer.admit(start, 0.0, None)
            if delay > 0:
                pacer.cancel(ticket)
                break
            count += 1
        sent.append(count)
    assert sent == [20, 20, 20, 20, 20, 21, 22, 23]


def test_a_cancelled_reservation_frees_its_place():
    """A sender that gives up before its window leaves room for another."""
    pacer = Pacer()
    learn(pacer)
    for _ in range(19):
        pacer.admit(100.05, 0.0, None)
    _, last = pacer.admit(100.05, 0.0, None)
    pacer.cancel(last)
    delay, _ = pacer.admit(100.05, 0.0, None)
    assert round(100.05 + delay, 2) == 101.02


def test_a_block_delays_slow_start_too():
    """While blocked, a cold sender waits for the block, keeping its place."""
    pacer = Pacer()
    delay, place = pacer.admit(10.0, 12.5, None)
    assert delay == 2.5
    assert place is not None
    assert not place.admitted


def test_a_quiet_minute_starts_over_from_the_last_quota():
    """Sixty seconds without a refusal forget the windows; slow start resumes at the quota."""
    pacer = Pacer()
    learn(pacer)
    go(pacer, 101.02)
    go(pacer, 170.0)
    assert pacer.quota is None
    assert pacer.cwnd == 20


def test_round_trips_set_the_poll_interval():
    """The slow-start wait follows half the measured round trip, within bounds."""
    pacer = Pacer()
    assert pacer.poll_interval() == 0.01
    ticket = go(pacer, 0.0)
    pacer.settle(ticket, True, 0.2)
    assert pacer.poll_interval() == pytest.approx(0.1)
