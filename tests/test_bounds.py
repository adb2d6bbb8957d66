"""Issue 14 point 14 (the bounds): replicas and route weights are checked before anything is
sent. ``spec.replicas`` is an int32 and a Gateway API weight is 0 to 1,000,000; values outside
were accepted client-side and sent (replicas of ``1e20``, a weight of -5), leaving the
server's refusal, or worse its acceptance, as the only check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from backends.breaker_scope import MAX_REPLICAS, MAX_WEIGHT, BreakerConfig, RouteShift
from backends.ops.plan import PlanError
from backends.ops.workloads import plan_scale

ROOT = Path(__file__).resolve().parent.parent


class NoReads:
    """A reader that fails the test when asked anything: a refused value reads nothing."""

    async def get_raw(self, path: str, params: object = None) -> bytes:
        raise AssertionError(f"read {path} for a value that should have been refused")


@pytest.mark.parametrize("replicas", [-1, MAX_REPLICAS + 1, 10**20, True, 2.0])
async def test_scale_refuses_replicas_outside_int32_before_reading(replicas: object) -> None:
    with pytest.raises(PlanError, match=f"0 to {MAX_REPLICAS}"):
        await plan_scale(NoReads(), None, "ns", "web", replicas)  # type: ignore[arg-type]


@pytest.mark.parametrize("weight", [-5, MAX_WEIGHT + 1, True])
def test_route_shifts_refuse_weights_the_gateway_api_forbids(weight: object) -> None:
    with pytest.raises(ValueError, match=f"0 to {MAX_WEIGHT}"):
        RouteShift(route="checkout/checkout", weights={"stable": weight})  # type: ignore[dict-item]
    assert RouteShift(route="checkout/checkout", weights={"stable": MAX_WEIGHT, "canary": 0})


def test_the_breaker_config_refuses_a_bad_weight_like_any_config_error() -> None:
    from backends.config import ConfigError, parse

    with pytest.raises(ConfigError, match="must be 0 to 1000000"):
        parse('[breaker]\nroutes = [{route = "c/c", weights = {a = -5}}]\n')
    assert isinstance(parse('[breaker]\nroutes = [{route = "c/c", weights = {a = 5}}]\n')
                      .breaker, BreakerConfig)


@pytest.mark.parametrize("args,words", [
    (["scale", "ns/web", "2147483648"], "replicas must be 0 to 2147483647"),
    (["scale", "ns/web", "1e20"], "expected a whole number"),
    (["breaker", "engage", "--route", "c/c:a=-5"], "must be 0 to 1000000"),
    (["breaker", "engage", "--route", "c/c:a=1000001"], "must be 0 to 1000000"),
])
def test_the_cli_refuses_out_of_bounds_values_with_exit_2(tmp_path: Path, args: list[str],
                                                          words: str) -> None:
    """Refused while parsing: no kubeconfig is read, nothing is sent, one clear line."""
    out = subprocess.run([sys.executable, "-m", "controlroom", *args, "--yes",
                          "--reason", "INC-1", "--kubeconfig", str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=60, cwd=ROOT,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 2, out.stderr
    assert words in out.stderr and "Traceback" not in out.stderr
