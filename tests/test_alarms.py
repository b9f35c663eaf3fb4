"""The alarm book: on/off delays, duplicate suppression, acknowledgement, unknown conditions."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bioreactor.contract import Acknowledgement, AlarmState, Severity
from monitor.alarms import AlarmBook, Delays, Subject
from monitor.checks.base import Explanation, Findings

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def findings(holds, known=True, check="limit_low", severity=Severity.WARNING):
    return Findings(check, "glucose", severity, np.array([holds]), np.array([known]), np.array([0.8]),
                    np.array([1.0]), lambda i: Explanation("glucose low"))


def feed(book, conditions, start=0, step=5, **kwargs):
    events = []
    for i, holds in enumerate(conditions):
        subject = Subject(np.array([0]), np.array([(T0 + timedelta(minutes=start + step * i)).timestamp()]),
                          ("R01",), ("B1",))
        events += [e for _, e in book.apply(subject, [findings(holds, **kwargs)], recovery=lambda f, i: "ok")]
    return events


def test_on_delay_then_raise_once_then_off_delay():
    book = AlarmBook(Delays(on=timedelta(minutes=10), off=timedelta(minutes=10)))
    events = feed(book, [True] * 6 + [False] * 4)
    assert [(e.check, e.state) for e in events] == [("limit_low", AlarmState.RAISED), ("limit_low", AlarmState.CLEARED)]
    assert events[0].timestamp == T0 + timedelta(minutes=10)
    assert events[1].timestamp == T0 + timedelta(minutes=40)


def test_a_short_blip_never_raises():
    book = AlarmBook(Delays(on=timedelta(minutes=10)))
    assert feed(book, [True, False, True, False]) == []


def test_an_unknown_condition_neither_raises_nor_clears():
    book = AlarmBook(Delays(on=timedelta(minutes=10), off=timedelta(minutes=10)))
    assert feed(book, [True] * 3)
    assert feed(book, [False] * 5, start=15, known=False) == []  # inputs missing: the alarm stands
    assert book.active(0)


def test_acknowledge_lifecycle():
    book = AlarmBook(Delays())
    (raised,) = feed(book, [True])
    ack = Acknowledgement(alarm_id=raised.alarm_id, user="ana", timestamp=T0, comment="looking")
    event = book.acknowledge(0, ack, data_time=(T0 + timedelta(minutes=1)).timestamp(), received_at=T0)
    assert event.state is AlarmState.ACKNOWLEDGED and (event.user, event.comment) == ("ana", "looking")
    with pytest.raises(ValueError, match="already acknowledged"):
        book.acknowledge(0, ack, data_time=0.0, received_at=T0)
    (cleared,) = feed(book, [False], start=2)
    assert cleared.state is AlarmState.CLEARED and cleared.user is None
    with pytest.raises(ValueError, match="already cleared"):
        book.acknowledge(0, ack, data_time=0.0, received_at=T0)
    with pytest.raises(KeyError):
        book.acknowledge(0, Acknowledgement(alarm_id="nope", user="ana", timestamp=T0), data_time=0.0, received_at=T0)


def test_dump_and_load_keep_pending_and_active_alarms():
    book = AlarmBook(Delays(on=timedelta(minutes=10)))
    feed(book, [True] * 3)
    copy = AlarmBook(Delays(on=timedelta(minutes=10)))
    copy.load(0, book.dump(0))
    assert copy.active(0) == book.active(0) and copy.active(0)
    assert feed(copy, [True], start=15) == feed(book, [True], start=15)
