"""Configuration files and argument lists of the drill's real servers (pure functions).

Kept apart from :mod:`drill.servers` (which runs processes) so what each server is told
can be read and tested without starting anything. Every server listens on 127.0.0.1 only and
keeps its state in the temp dir it is given; intervals are the drill's (seconds, not minutes)
so a rehearsal shows alerts while the incident is still on screen.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

#: One command brings every server the drill can use (Debian and Ubuntu package names).
INSTALL_HINT = ("apt-get install -y --no-install-recommends "
                "prometheus prometheus-alertmanager mosquitto")


@dataclass(frozen=True)
class Intervals:
    """How fast the drill's Prometheus and Alertmanager move."""

    scrape: str = "1s"
    evaluation: str = "1s"
    #: How often Prometheus re-sends a firing alert; Alertmanager resolves an alert it has not
    #: heard of for four times this, so a stopped Prometheus leaves its alerts active ~20 s.
    resend_delay: str = "5s"
    group_wait: str = "1s"
    group_interval: str = "2s"
    repeat_interval: str = "1h"


def hostport(url: str) -> str:
    """``host:port`` of an http URL (what Prometheus' static_configs want)."""
    parts = urlsplit(url)
    if not parts.hostname or parts.port is None:
        raise ValueError(f"expected a URL with host and port, got {url!r}")
    return f"{parts.hostname}:{parts.port}"


def prometheus_config(metrics_url: str, rule_files: list[str], alertmanager: str | None,
                      intervals: Intervals) -> dict[str, Any]:
    """Scrape the drill cluster's ``/metrics`` and send alerts to the drill's Alertmanager."""
    parts = urlsplit(metrics_url)
    config: dict[str, Any] = {
        "global": {"scrape_interval": intervals.scrape,
                   "evaluation_interval": intervals.evaluation,
                   "scrape_timeout": intervals.scrape},
        "rule_files": rule_files,
        "scrape_configs": [{
            "job_name": "drill",
            "scheme": parts.scheme or "http",
            "metrics_path": parts.path or "/metrics",
            "static_configs": [{"targets": [hostport(metrics_url)],
                                "labels": {"cluster": "drill"}}],
        }],
    }
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [
            {"static_configs": [{"targets": [hostport(alertmanager)]}]}]}
    return config


def prometheus_args(exe: str, config: Path, data: Path, port: int,
                    intervals: Intervals) -> list[str]:
    return [exe, f"--config.file={config}", f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url=http://127.0.0.1:{port}/",
            "--storage.tsdb.retention.time=1d",
            f"--rules.alert.resend-delay={intervals.resend_delay}",
            "--log.level=warn"]


def alertmanager_config(intervals: Intervals) -> dict[str, Any]:
    """One route to a receiver without integrations: the control room reads alerts over the
    API (and a webhook bridge to MQTT is the team's choice, not the drill's)."""
    return {
        "route": {"receiver": "drill", "group_by": ["alertname", "namespace"],
                  "group_wait": intervals.group_wait,
                  "group_interval": intervals.group_interval,
                  "repeat_interval": intervals.repeat_interval},
        "receivers": [{"name": "drill"}],
    }


def alertmanager_args(exe: str, config: Path, data: Path, port: int) -> list[str]:
    # An empty cluster listen address turns gossip off: no port 9094 taken, so several drills
    # (and a system Alertmanager) run side by side.
    return [exe, f"--config.file={config}", f"--storage.path={data}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url=http://127.0.0.1:{port}/",
            "--cluster.listen-address=", "--log.level=warn"]


def mosquitto_config(port: int, data: Path) -> str:
    """Anonymous loopback listener with persistence in ``data``, so retained messages and
    queued QoS 1 messages survive a broker restart (autosaved every second, and on exit)."""
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence true",
             f"persistence_location {data}/", "autosave_interval 1",
             "log_dest stderr", "log_type error", "log_type warning"]
    if os.geteuid() == 0:
        # As root mosquitto drops to the 'mosquitto' user, which cannot write our 0700 dir.
        lines.append(f"user {pwd.getpwuid(os.geteuid()).pw_name}")
    return "\n".join(lines) + "\n"


def mosquitto_args(exe: str, config: Path) -> list[str]:
    return [exe, "-c", str(config)]


def dump_yaml(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path
