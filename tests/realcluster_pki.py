"""Certificates and kubeconfigs for the real control plane (tests/realcluster.py).

Made by the ``openssl`` program (``scripts/install-tools.sh`` installs it; the team bus's TLS
tests use it too), so the tests add no Python dependency for X.509: one CA, a serving
certificate for 127.0.0.1, a client certificate per identity (user = CN, groups = O), and an
EC key pair for signing service-account tokens. Kubeconfigs carry the CA and the client pair
inline, over https only: no credential travels in the clear.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import yaml


class Pki:
    """A CA and the certificates signed by it, made by the ``openssl`` program (EC P-256)."""

    def __init__(self, root: Path, openssl: str) -> None:
        self.root = root
        self._openssl = openssl
        self._run("req", "-x509", *self._key("ca.key"), "-out", "ca.crt", "-days", "2",
                  "-subj", "/CN=controlroom-realcluster-ca")

    def _run(self, *args: str) -> None:
        out = subprocess.run([self._openssl, *args], cwd=self.root, capture_output=True,
                             text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)}: {out.stderr.strip()}")

    @staticmethod
    def _key(name: str) -> list[str]:
        return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", name]

    def issue(self, name: str, subject: str, extensions: str) -> tuple[Path, Path]:
        """``name.crt`` and ``name.key`` for ``subject``, with ``extensions`` (openssl
        extfile lines) and the CA's signature."""
        (self.root / f"{name}.ext").write_text(extensions)
        self._run("req", *self._key(f"{name}.key"), "-out", f"{name}.csr", "-subj", subject)
        self._run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                  "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
                  "-extfile", f"{name}.ext")
        return self.root / f"{name}.crt", self.root / f"{name}.key"

    def signing_key(self, name: str) -> tuple[Path, Path]:
        """A key pair for signing service-account tokens: ``name.key``, ``name.pub``."""
        self._run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-out", f"{name}.key")
        self._run("pkey", "-in", f"{name}.key", "-pubout", "-out", f"{name}.pub")
        return self.root / f"{name}.key", self.root / f"{name}.pub"

    @property
    def ca(self) -> Path:
        return self.root / "ca.crt"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path,
                     user: str) -> Path:
    """A kubeconfig for one identity (the CA and the client pair inline, mode 0600)."""
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": f"realcluster-{user}",
        "clusters": [{"name": "realcluster", "cluster": {
            "server": server, "certificate-authority-data": _b64(ca)}}],
        "users": [{"name": user, "user": {
            "client-certificate-data": _b64(cert), "client-key-data": _b64(key)}}],
        "contexts": [{"name": f"realcluster-{user}", "context": {
            "cluster": "realcluster", "user": user}}],
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(config, out)
    return path
