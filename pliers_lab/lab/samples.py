"""Sample payloads per hook: the core's ``pliers_lab.samples``, re-exported for the lab.

The table lives in the core so the PDK's ``pliers simulate`` shares it without importing
the lab.
"""

from __future__ import annotations

from ..samples import describe_sample, expected_keys, sample_payload

__all__ = ["describe_sample", "expected_keys", "sample_payload"]
