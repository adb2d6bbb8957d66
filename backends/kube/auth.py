"""Credentials of one kubeconfig context: loaded by kubernetes.aio, refreshed by us.

What we take from ``kubernetes.aio`` (bundled with ``kubernetes`` >= 37), and why: everything
that is hard to get right about *authenticating* to a cluster. Its ``KubeConfigLoader`` reads
``token``/``tokenFile``, client certificates, ``exec`` credential plugins (kubelogin, ``aws
eks get-token``), the OIDC and GCP auth providers, and writes the result into its
``Configuration``, whose ``auth_settings()`` the connection asks for the header of each request.

Refresh: ``kubernetes.aio`` only offers a polling loop (``refresh_token``). We install
``Configuration.refresh_api_key_hook`` instead (:func:`load_credentials`), which re-runs an
``exec`` plugin when its ``expirationTimestamp`` is less than five minutes away, and on a 401
the connection reloads the credentials once (:meth:`Credentials.refresh_after_401`: exec
plugin, ``tokenFile``, auth provider) and retries, as client-go does for plugins without an
expiry. A client certificate delivered by an exec plugin is read when connecting; its rotation
needs a reconnect (kubernetes.aio builds the ssl context once).

This leans on the loader's internals (``exec_plugin_expiry``, the error log it writes instead
of raising when a plugin fails): pyproject.toml bounds ``kubernetes`` for that reason.
Exec plugins run as asyncio subprocesses. Interactive exec logins (a device-code prompt)
cannot work inside the TUI: log in first. A plugin that does not answer within
``exec_timeout`` (60 s by default) is a clear error, not a command that hangs forever, and the
plugin process is killed: the library keeps no handle on it, so it is found among our own
children by its exact command line (Linux ``/proc``; elsewhere it is left to end by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

from backends.kube.errors import KubeconfigError
from backends.kube.kubeconfig import Selected
from backends.kube.kubernetes_aio import ConfigException, Configuration, KubeConfigLoader

__all__ = ["EXEC_TIMEOUT", "Credentials", "load_credentials"]

_EXPIRY_SKEW = timedelta(minutes=5)
EXEC_TIMEOUT = 60.0
"""Seconds an exec credential plugin may take (kubelogin with a cached token answers in
well under a second; one waiting for a device-code login never would)."""
_KUBE_CONFIG_LOGGER = "kubernetes.aio.config.kube_config"


class _ErrorLog(logging.Handler):
    """Collects kubernetes.aio's error log lines: it logs (and swallows) exec plugin failures
    instead of raising, and we want them in the error the user sees."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _kube_config_errors() -> Iterator[list[str]]:
    logger = logging.getLogger(_KUBE_CONFIG_LOGGER)
    handler = _ErrorLog()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


class Credentials:
    """Loads and refreshes the context's credentials into the kubernetes.aio Configuration."""

    def __init__(self, loader: KubeConfigLoader, configuration: Configuration,
                 selected: Selected, *, exec_timeout: float = EXEC_TIMEOUT) -> None:
        self._loader = loader
        self._configuration = configuration
        self._context = selected.context
        user = selected.user
        self._exec = "exec" in user
        self._exec_timeout = exec_timeout
        found = user.get("exec")
        spec: dict[str, object] = found if isinstance(found, dict) else {}
        args = spec.get("args")
        self._exec_argv = [str(spec.get("command", "")),
                           *(map(str, args) if isinstance(args, list) else ())]
        self.refreshable = self._exec or "auth-provider" in user or "tokenFile" in user
        self.generation = 0
        """Bumped by every reload, so concurrent 401s trigger one refresh, not one each."""
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """(Re)load credentials; raises :class:`KubeconfigError` with the plugin's complaint."""
        with _kube_config_errors() as problems:
            try:
                if self._exec:
                    async with asyncio.timeout(self._exec_timeout):
                        await self._loader.load_and_set(self._configuration)
                else:
                    await self._loader.load_and_set(self._configuration)
            except TimeoutError:
                killed = _kill_children(self._exec_argv)
                raise KubeconfigError(
                    f"context {self._context!r}: the exec credential plugin "
                    f"{self._exec_argv[0]!r} gave no credentials within "
                    f"{self._exec_timeout:g} s (waiting for an interactive login? log in "
                    f"first){'; it was stopped' if killed else ''}") from None
            except (ConfigException, ValueError, KeyError, OSError) as exc:
                raise KubeconfigError(f"context {self._context!r}: {exc}") from exc
        if self._exec and problems:
            raise KubeconfigError(
                f"context {self._context!r}: the exec credential plugin failed: "
                + "; ".join(problems)
            )
        self.generation += 1

    async def before_request(self, _configuration: Configuration) -> None:
        """The Configuration's refresh hook: re-run an exec plugin shortly before expiry."""
        if self._exec and self._expiring():
            async with self._lock:
                if self._expiring():
                    await self.load()

    def _expiring(self) -> bool:
        expiry = getattr(self._loader, "exec_plugin_expiry", None)
        return isinstance(expiry, datetime) and expiry - _EXPIRY_SKEW <= datetime.now(UTC)

    async def refresh_after_401(self, seen_generation: int) -> None:
        """Reload once for a rejected request (unless another request already did)."""
        async with self._lock:
            if self.generation != seen_generation:
                return
            if hasattr(self._loader, "exec_plugin_expiry"):
                # kubernetes.aio skips the plugin while this says the token is still valid.
                delattr(self._loader, "exec_plugin_expiry")
            await self.load()


def _kill_children(argv: list[str]) -> int:
    """Kill our own child processes whose command line is exactly ``argv`` (the plugin the
    library started and no longer waits for); how many. Linux only, best effort."""
    if not argv or not argv[0] or not os.path.isdir("/proc"):
        return 0
    wanted = [a.encode() for a in argv]
    me, killed = os.getpid(), 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            if ppid != me:
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read().rstrip(b"\0").split(b"\0")
            if cmdline == wanted:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (OSError, ValueError, IndexError):
            continue
    return killed


async def load_credentials(selected: Selected, configuration: Configuration, *,
                           exec_timeout: float = EXEC_TIMEOUT) -> Credentials:
    """Load the context's credentials into ``configuration`` (an exec plugin runs now) and
    install the refresh hook. Raises :class:`KubeconfigError` naming the problem."""
    try:
        loader = KubeConfigLoader(
            config_dict=selected.merger.config,
            active_context=selected.context,
            config_base_path=None,
        )
    except (ConfigException, ValueError, KeyError) as exc:
        raise KubeconfigError(f"context {selected.context!r}: {exc}") from exc
    credentials = Credentials(loader, configuration, selected, exec_timeout=exec_timeout)
    await credentials.load()
    hook: Callable[[Configuration], Awaitable[None]] = credentials.before_request
    # Typed as None in kubernetes.aio although it is documented as the refresh hook.
    setattr(configuration, "refresh_api_key_hook", hook)  # noqa: B010
    return credentials
