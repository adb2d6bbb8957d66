"""``controlroom demo``: the drill cluster started in-process, with a screen saying what runs.

Until the live panels land this is a placeholder that is honest about what is running: the
drill API server's URL, the kubeconfig to point kubectl at, and live object counts per kind.
"""

from __future__ import annotations

import argparse

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static

from backends.demo.resources import RESOURCES, VIRTUAL
from backends.demo.runner import DrillCluster, DrillOptions


class DemoApp(App[int]):
    """Starts the drill cluster on mount and shows its vital signs."""

    TITLE = "controlroom: drill cluster"
    BINDINGS = [Binding("q", "quit", "Quit", id="quit", tooltip="Stop the drill cluster and exit")]

    def __init__(self, options: DrillOptions) -> None:
        super().__init__()
        self.cluster = DrillCluster(options)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        yield Footer()

    async def on_mount(self) -> None:
        await self.cluster.start()
        self.set_interval(0.5, self.refresh_status)
        self.refresh_status()

    def refresh_status(self) -> None:
        state = self.cluster.state
        text = Text()
        text.append("Drill cluster running\n\n", style="bold")
        text.append(f"API server:  {self.cluster.url}\n")
        text.append(f"kubeconfig:  {self.cluster.kubeconfig}\n")
        text.append(f"try:         kubectl --kubeconfig {self.cluster.kubeconfig} get pods -A\n\n")
        text.append(f"resourceVersion {state.rv}\n\n")
        for rt in RESOURCES:
            if rt.key in VIRTUAL:
                continue
            text.append(f"  {rt.key:<50} {state.count(rt):>6}\n")
        self.query_one("#status", Static).update(text)

    async def on_unmount(self) -> None:
        await self.cluster.stop()


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo app; returns the process exit code."""
    from tui.cli import drill_options

    DemoApp(drill_options(args)).run()
    return 0
