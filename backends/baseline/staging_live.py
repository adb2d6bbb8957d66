""""Verify staging environment health" from the staging context's live validation (issue 18,
point 3): when the control room watches staging beside production, the runbook's staging item
needs no pipeline message: the staging store is captured (as a baseline would be, no I/O)
and validated with the configured rules now. Passed: healthy; failed: the failing checks
named; unknown (a source that does not deliver): not ticked, and said why.
"""

from __future__ import annotations

from backends.baseline.capture import capture, make_meta
from backends.baseline.validate import validate
from backends.config import ValidateSettings
from backends.store import Store


def staging_from_store(store: Store, context: str, rules: ValidateSettings,
                       now: float) -> tuple[bool | None, str]:
    """(healthy, evidence) of the staging context, judged on its live store (unknown while
    its first lists load: half a node list is no evidence either way)."""
    if store.first_lists_loading():
        return None, f"{context}: first lists still loading"
    result = validate(capture(store, make_meta(context), now), rules)
    verdict = result.verdict
    if verdict == "passed":
        return True, f"{context}: live validation passed ({len(result.checks)} checks)"
    if verdict == "failed":
        failed = ", ".join(c.id for c in result.failures)
        return False, f"{context}: live validation failed ({failed})"
    unknown = ", ".join(c.id for c in result.unknown)
    return None, f"{context}: live validation cannot tell ({unknown})"
