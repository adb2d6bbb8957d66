"""Issue 18 point 5 (the brief's point 2): ``controlroom demo --clusters staging,prod``
starts one drill API server per cluster, prints ONE kubeconfig holding both contexts, and
kubectl reaches each cluster alone through ``--context``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from drill.fleet import parse_clusters
from tests.conftest import ROOT
from tests.fleet_support import headless_fleet


def test_cluster_lists_and_their_default_scenarios() -> None:
    assert parse_clusters("staging,prod") == [("staging", "calm"), ("prod", "bad-rollout")]
    assert parse_clusters("staging=bad-rollout, prod=calm") == [
        ("staging", "bad-rollout"), ("prod", "calm")]


@pytest.mark.parametrize(("text", "named"), [
    ("staging,staging", "each context once"),
    ("staging=nope", "unknown scenario 'nope'"),
    ("sta ging", "'sta ging' is not a context name"),
    ("", "'' is not a context name"),
])
def test_a_bad_cluster_list_is_refused_naming_the_problem(text: str, named: str) -> None:
    with pytest.raises(ValueError, match="--clusters") as caught:
        parse_clusters(text)
    assert named in str(caught.value)
    out = subprocess.run([sys.executable, "-m", "controlroom", "demo", "--headless",
                          "--clusters", text], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert out.returncode == 2 and named in out.stderr, out.stderr


def test_two_drill_clusters_in_one_kubeconfig_each_reached_by_kubectl_context() -> None:
    with headless_fleet("staging,prod") as fleet:
        assert fleet.scenarios == {"staging": "calm", "prod": "bad-rollout"}
        assert fleet.apis["staging"] != fleet.apis["prod"]
        contexts = fleet.kubectl("staging", "config", "get-contexts", "-o", "name").stdout
        assert contexts.split() == ["prod", "staging"]
        for context in ("staging", "prod"):
            server = fleet.kubectl(context, "config", "view", "--minify", "-o",
                                   "jsonpath={.clusters[0].cluster.server}").stdout
            assert server == fleet.apis[context]
            nodes = json.loads(fleet.kubectl(context, "get", "nodes", "-o", "json").stdout)
            assert nodes["items"]
        # a write through one context lands on that cluster alone
        fleet.kubectl("staging", "-n", "default", "create", "configmap", "only-on-staging")
        assert "only-on-staging" in fleet.kubectl(
            "staging", "-n", "default", "get", "configmaps", "-o", "name").stdout
        assert "only-on-staging" not in fleet.kubectl(
            "prod", "-n", "default", "get", "configmaps", "-o", "name").stdout
