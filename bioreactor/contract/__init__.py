"""The project's one contract: MQTT topics and JSON payloads, with a schema version.

Everything that publishes or subscribes imports from here; see the README's
contract table for the same information in prose.
"""

from bioreactor.contract.codec import (
    SCHEMA_VERSION,
    ContractError,
    decode,
    encode,
    format_timestamp,
    from_dict,
    parse_timestamp,
    to_dict,
)
from bioreactor.contract.payloads import (
    PROCESS_VARIABLES,
    Acknowledgement,
    ActiveAlarms,
    AlarmEvent,
    AlarmState,
    DeadLetter,
    Driver,
    Metrics,
    Reading,
    Recommendation,
    Severity,
    Status,
    StatusState,
)

__all__ = [
    "PROCESS_VARIABLES",
    "SCHEMA_VERSION",
    "Acknowledgement",
    "ActiveAlarms",
    "AlarmEvent",
    "AlarmState",
    "ContractError",
    "DeadLetter",
    "Driver",
    "Metrics",
    "Reading",
    "Recommendation",
    "Severity",
    "Status",
    "StatusState",
    "decode",
    "encode",
    "format_timestamp",
    "from_dict",
    "parse_timestamp",
    "to_dict",
]
