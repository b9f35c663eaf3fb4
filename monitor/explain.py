"""Plain-English alarm messages: what happened, by how much, since when, why, what to do.

>>> from datetime import datetime, timedelta, UTC
>>> from monitor.checks.base import Explanation
>>> t = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
>>> e = Explanation("DO fell to 12.0 % (set point 40.0 %)",
...                 corroborating=("agitation at its maximum 250 rpm",),
...                 causes=("oxygen-transfer limitation (sparger clog, gas supply loss)",),
...                 action="Check the gas supply and sparger first.")
>>> print(render(e, since=t - timedelta(minutes=35), now=t))
DO fell to 12.0 % (set point 40.0 %) for 35 min (since 2026-01-05 07:25 UTC); agitation at its \
maximum 250 rpm. Likely cause: oxygen-transfer limitation (sparger clog, gas supply loss). \
Check the gas supply and sparger first.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.checks.base import Explanation

#: Display units of the reading fields.
UNITS: dict[str, str] = {
    "vcd": "e6 cells/mL", "viability": "%", "glucose": "g/L", "lactate": "g/L",
    "do": "%", "ph": "", "temperature": "°C", "agitation": "rpm", "airflow": "L/min",
    "feed_rate": "mL/h", "volume": "L", "base_rate": "mL/h", "titer": "g/L",
}

#: How variables are named in messages.
LABELS: dict[str, str] = {
    "vcd": "VCD", "do": "DO", "ph": "pH", "feed_rate": "feed rate", "base_rate": "base addition",
}

_DECIMALS: dict[str, int] = {"ph": 2, "airflow": 3, "temperature": 1, "agitation": 0}


def label(variable: str) -> str:
    """The name of ``variable`` in messages.

    >>> label("do"), label("glucose")
    ('DO', 'glucose')
    """
    return LABELS.get(variable, variable.replace("_", " "))


def quantity(variable: str, value: float) -> str:
    """``value`` with the precision and unit of ``variable``.

    >>> quantity("ph", 6.8123), quantity("glucose", 0.42), quantity("agitation", 249.6)
    ('6.81', '0.42 g/L', '250 rpm')
    """
    decimals = _DECIMALS.get(variable, 2 if abs(value) < 10 else 1)
    unit = UNITS.get(variable, "")
    text = f"{value:.{decimals}f}"
    return f"{text} {unit}" if unit and unit != "%" else text + unit


def duration(span: timedelta) -> str:
    """A short human duration.

    >>> duration(timedelta(minutes=35)), duration(timedelta(hours=5, minutes=10))
    ('35 min', '5 h 10 min')
    >>> duration(timedelta(days=2, hours=3))
    '2 d 3 h'
    """
    minutes = max(0, round(span.total_seconds() / 60))  # clocks of two sources never make it negative
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def render(explanation: Explanation, *, since: datetime, now: datetime) -> str:
    """The full message of an alarm whose condition has held from ``since`` to ``now``.

    An alarm raised the moment its condition appeared (a gap in the data, a bad value)
    says when, not that it lasted "0 min".

    >>> t = datetime(2026, 1, 5, 8, 0)
    >>> render(Explanation("3 reading(s) never arrived"), since=t, now=t)
    '3 reading(s) never arrived (at 2026-01-05 08:00 UTC).'
    """
    stamp = since.strftime("%Y-%m-%d %H:%M UTC")
    held = now - since
    parts = [f"{explanation.what} for {duration(held)} (since {stamp})" if held >= timedelta(minutes=1)
             else f"{explanation.what} (at {stamp})"]
    if explanation.corroborating:
        parts[0] += "; " + ", ".join(explanation.corroborating)
    text = parts[0] + "."
    causes = explanation.causes
    if causes:
        head = "Likely cause: " if len(causes) == 1 else "Likely causes, most likely first: "
        text += " " + head + "; ".join(causes) + "."
    if explanation.action:
        text += " " + explanation.action
    return text


def cleared(what: str, *, raised: datetime, now: datetime) -> str:
    """The message of an alarm that returned to normal.

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    >>> cleared("glucose back to 2.10 g/L", raised=t - timedelta(hours=2), now=t)
    'Cleared: glucose back to 2.10 g/L after 2 h in alarm.'
    """
    return f"Cleared: {what} after {duration(now - raised)} in alarm."
