"""Kubernetes-style API errors for the drill cluster.

Every failure the drill API server reports is an :class:`ApiError` that renders as a
``meta/v1 Status`` object with the reason and code a real apiserver uses, so clients (kubectl,
the ``kubernetes`` package, our own watch sources) take the same error paths they take against a
real cluster.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failure with a Kubernetes ``Status`` reason and HTTP code."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        kind: str = "",
        name: str = "",
        group: str = "",
        causes: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = causes or []

    def status(self) -> dict[str, Any]:
        """The ``Status`` object a real apiserver returns for this failure."""
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = self.causes
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            out["details"] = details
        return out


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{_qualified(plural, group)} "{name}" not found',
                    kind=plural, name=name, group=group)


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{_qualified(plural, group)} "{name}" already exists',
                    kind=plural, name=name, group=group)


def conflict(plural: str, group: str, name: str, why: str = "") -> ApiError:
    msg = (f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": '
           + (why or "the object has been modified; please apply your changes to the latest "
              "version and try again"))
    return ApiError(409, "Conflict", msg, kind=plural, name=name, group=group)


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid, with one cause per bad field, worded like apiserver validation."""
    text = "; ".join(f"{field}: {msg}" for field, msg in causes)
    qualified = f"{kind}.{group}" if group else kind
    return ApiError(
        422, "Invalid", f'{qualified} "{name}" is invalid: {text}', kind=kind, name=name,
        group=group,
        causes=[{"reason": "FieldValueInvalid", "message": msg, "field": field}
                for field, msg in causes],
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested "
                       "resource") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media(message: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", message)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def too_large(limit: int) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge",
                    f"the request body is larger than the server's limit of {limit} bytes")
