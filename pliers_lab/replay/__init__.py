"""Replaying large event logs through plugins, in parallel on Dask.

An event log is JSON Lines of the event engine's ``BaseEvent``; each event is mapped to the
hook the platform fires for it and replayed through a fresh engine per partition. The
report says, per plugin, what it would have done with history: answers, failures, time.
"""

from ._event_log import EventLogError, read_events, synthetic_log
from ._runner import ReplayError, ReplayReport, replay

__all__ = [
    "EventLogError",
    "ReplayError",
    "ReplayReport",
    "read_events",
    "replay",
    "synthetic_log",
]
