"""Issue 18 point 3: with staging watched beside prod, prod's runbook item "Staging healthy"
(the update strategy's "verify staging environment health") ticks itself from the staging
context's LIVE validation, and stays unticked, naming what failed, when staging fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends.baseline.runbook import AUTO_STAGING
from tests.fleet_support import drill_fleet, fleet_app
from tests.waiting import pilot_until


def staging_item(app: Any) -> Any:
    prod = next(m for m in app.fleet.members if m.context == "prod")
    checklist = prod.owned["runbook"].current_checklist()
    return next(i for i in checklist.items if i.auto == AUTO_STAGING)


@pytest.mark.parametrize(("clusters", "advance", "done", "says"), [
    ("staging=calm,prod=bad-rollout", 2, True, "staging: live validation passed"),
    ("staging=bad-rollout,prod=calm", 200, False, "staging: live validation failed"),
])
async def test_staging_item_ticks_from_the_staging_contexts_live_validation(
        tmp_path: Path, clusters: str, advance: float, done: bool, says: str) -> None:
    async with drill_fleet(tmp_path, clusters) as fleet:
        fleet.clusters["staging"].sim.advance(advance)
        app: Any = fleet_app(fleet, "[validate]\nfail_alert_severities = []\n"
                             "regressions = []\n", tmp_path / "journal.sqlite3")
        async with app.run_test(size=(200, 60)) as pilot:
            item = await pilot_until(
                pilot, lambda: says in (i := staging_item(app)).evidence and i,
                f"the staging item saying {says!r}", 20, interval=0.2)
            assert item.done is done, item
