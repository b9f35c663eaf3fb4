"""The MQTT topic tree, defined once.

Every reactor has its own sub-tree, so a subscriber can partition the fleet by
topic (``bioreactor/R1/#``) instead of using ``$share`` groups, which
round-robin messages and would split one reactor's state across workers.
Service-level topics start with an underscore, which a reactor id may not.

>>> reading_topic("R1")
'bioreactor/R1/reading'
>>> reactor_from_topic("bioreactor/R1/alarm")
'R1'
>>> READINGS_WILDCARD
'bioreactor/+/reading'
>>> ack_topic("R1", "alice"), user_from_ack_topic("bioreactor/R1/ack/alice")
('bioreactor/R1/ack/alice', 'alice')
"""

from __future__ import annotations

import re

ROOT = "bioreactor"

#: A reactor id: starts with a letter or digit, then letters, digits, ``_ . -``.
REACTOR_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: An MQTT user name as it appears in an acknowledgement topic (``%u`` of the broker's ACL).
USER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")

READING = "reading"
STATUS = "status"
ALARM = "alarm"
ACTIVE_ALARMS = "alarms/active"
ACK = "ack"
RECOMMENDATION = "recommendation"
INCIDENT = "incident"
COVERAGE = "coverage"

READINGS_WILDCARD = f"{ROOT}/+/{READING}"
STATUS_WILDCARD = f"{ROOT}/+/{STATUS}"
ALARMS_WILDCARD = f"{ROOT}/+/{ALARM}"
INCIDENTS_WILDCARD = f"{ROOT}/+/{INCIDENT}"
#: Acknowledgements: the last level is the MQTT user who sent it (enforced by the broker's ACL).
ACKS_WILDCARD = f"{ROOT}/+/{ACK}/+"
DEAD_LETTER = f"{ROOT}/_deadletter"
MONITOR_STATUS = f"{ROOT}/_monitor/status"
MONITOR_METRICS = f"{ROOT}/_monitor/metrics"
#: The monitor's own alarms (an input it could not handle, a store it could not write).
MONITOR_ALARM = f"{ROOT}/_monitor/{ALARM}"


def is_valid_reactor_id(reactor_id: str) -> bool:
    """Whether ``reactor_id`` may be used as a topic level."""
    return bool(REACTOR_ID_PATTERN.match(reactor_id))


def _reactor_topic(reactor_id: str, leaf: str) -> str:
    if not is_valid_reactor_id(reactor_id):
        raise ValueError(f"invalid reactor id {reactor_id!r}: expected {REACTOR_ID_PATTERN.pattern}")
    return f"{ROOT}/{reactor_id}/{leaf}"


def reading_topic(reactor_id: str) -> str:
    """Readings of one reactor (QoS 1, not retained)."""
    return _reactor_topic(reactor_id, READING)


def status_topic(reactor_id: str) -> str:
    """Retained status of one reactor's publisher; its last will says ``offline``."""
    return _reactor_topic(reactor_id, STATUS)


def alarm_topic(reactor_id: str) -> str:
    """Alarm events of one reactor (QoS 1, not retained)."""
    return _reactor_topic(reactor_id, ALARM)


def active_alarms_topic(reactor_id: str) -> str:
    """Retained list of one reactor's active alarms."""
    return _reactor_topic(reactor_id, ACTIVE_ALARMS)


def ack_topic(reactor_id: str, user: str) -> str:
    """Acknowledgements of one reactor's alarms sent by ``user`` (the MQTT user name)."""
    if not USER_PATTERN.match(user):
        raise ValueError(f"invalid user name {user!r}: expected {USER_PATTERN.pattern}")
    return _reactor_topic(reactor_id, f"{ACK}/{user}")


def user_from_ack_topic(topic: str) -> str | None:
    """The user level of an acknowledgement topic, or ``None`` when it is not one."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == ROOT and parts[2] == ACK and USER_PATTERN.match(parts[3]):
        return parts[3]
    return None


def incident_topic(reactor_id: str) -> str:
    """Incident events of one reactor (QoS 1, not retained)."""
    return _reactor_topic(reactor_id, INCIDENT)


def coverage_topic(reactor_id: str) -> str:
    """Retained list of the checks that run, and cannot run, on one reactor."""
    return _reactor_topic(reactor_id, COVERAGE)


def recommendation_topic(reactor_id: str) -> str:
    """Feed-rate recommendations for one reactor."""
    return _reactor_topic(reactor_id, RECOMMENDATION)


def reactor_from_topic(topic: str) -> str | None:
    """The reactor id of a per-reactor topic, or ``None`` for any other topic."""
    parts = topic.split("/")
    if len(parts) >= 3 and parts[0] == ROOT and is_valid_reactor_id(parts[1]):
        return parts[1]
    return None
