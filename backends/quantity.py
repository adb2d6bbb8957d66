"""Kubernetes resource quantities (``250m``, ``123456789n``, ``1.5Gi``, ``1e3``) as numbers.

``kubectl top`` percentages divide metrics-server usage by ``node.status.allocatable``, and both
sides are quantities in whatever suffix the writer chose (operations.md section 7): CPU arrives
in nanocores from metrics-server and in whole cores from the kubelet; memory in ``Ki`` from
both. Getting a suffix wrong is a silent factor of 1000 or 1024 on the on-call's screen, so the
grammar below follows ``k8s.io/apimachinery/pkg/api/resource`` exactly:

    <quantity> ::= <signedNumber><suffix>
    <suffix>   ::= Ki | Mi | Gi | Ti | Pi | Ei        (binary)
                 | n | u | m | "" | k | M | G | T | P | E   (decimal)
                 | e<signedNumber> | E<signedNumber> (decimal exponent)

``E`` alone is exa; ``1E3`` is an exponent. ``K`` (upper case) is not a suffix.

:func:`parse_quantity` is exact (``Decimal``). :func:`cpu_millicores` and :func:`memory_bytes`
are called for every node and pod on each metrics poll, so they take a fast path for the
shapes metrics-server and the kubelet actually emit before falling back to the full parser.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Decimal, InvalidOperation

__all__ = ["cpu_millicores", "memory_bytes", "parse_quantity"]

_SUFFIX_MULTIPLIERS: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(1024),
    "Mi": Decimal(1024**2),
    "Gi": Decimal(1024**3),
    "Ti": Decimal(1024**4),
    "Pi": Decimal(1024**5),
    "Ei": Decimal(1024**6),
}

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:(?P<exp>[eE][+-]?\d+)|(?P<suffix>[KMGTPE]i|[numkMGTPE])?)"
)

# Kubernetes itself refuses exponents beyond what fits its int64 scale; we refuse anything
# that could make Decimal -> int conversions allocate absurd amounts of memory.
_MAX_EXPONENT = 64

# Integer-only fast paths: (suffix, divisor-to-millicores or multiplier-to-bytes).
_CPU_FAST = {"n": 1e-6, "u": 1e-3, "m": 1.0, "": 1000.0}
_MEM_FAST = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "": 1, "k": 1000, "M": 1000**2}


def parse_quantity(s: str) -> Decimal:
    """Parse a Kubernetes quantity string into an exact ``Decimal`` in base units.

    Raises ``ValueError`` naming the offending text when ``s`` is not a quantity, so a bad
    value in a fixture or a cluster shows up as a readable message rather than a traceback.
    """
    if not isinstance(s, str):
        raise ValueError(f"quantity must be a string, got {type(s).__name__}: {s!r}")
    text = s.strip()
    if not text:
        raise ValueError("empty quantity")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(
            f"invalid quantity {s!r}: expected a number with an optional suffix "
            "(n u m k M G T P E Ki Mi Gi Ti Pi Ei) or exponent (e3)"
        )
    try:
        number = Decimal(match["number"])
        exp = match["exp"]
        if exp is not None:
            exponent = int(exp[1:])
            if abs(exponent) > _MAX_EXPONENT:
                raise ValueError(f"invalid quantity {s!r}: exponent out of range")
            return number.scaleb(exponent)
        return number * _SUFFIX_MULTIPLIERS[match["suffix"] or ""]
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid numbers
        raise ValueError(f"invalid quantity {s!r}: {exc}") from None


def _split_integer_suffix(s: str) -> tuple[int, str] | None:
    """Split ``"123Ki"`` into ``(123, "Ki")`` when the number is a plain non-negative integer."""
    end = len(s)
    while end and not s[end - 1].isdigit():
        end -= 1
    digits = s[:end]
    if not digits or not digits.isdigit() or not digits.isascii():
        return None
    return int(digits), s[end:]


def cpu_millicores(s: str) -> float:
    """CPU quantity in millicores (``"250m"`` -> 250.0, ``"4"`` -> 4000.0, ``"1500000n"`` -> 1.5).

    A float because the panels compute percentages and nanocore precision is noise there.
    """
    fast = _split_integer_suffix(s) if isinstance(s, str) else None
    if fast is not None:
        factor = _CPU_FAST.get(fast[1])
        if factor is not None:
            return fast[0] * factor
    return float(parse_quantity(s) * 1000)


def memory_bytes(s: str) -> int:
    """Memory quantity in bytes, rounded up like ``Quantity.Value()`` (``"0.5"`` -> 1)."""
    fast = _split_integer_suffix(s) if isinstance(s, str) else None
    if fast is not None:
        factor = _MEM_FAST.get(fast[1])
        if factor is not None:
            return fast[0] * factor
    value = parse_quantity(s)
    return int(value.to_integral_value(rounding=ROUND_CEILING))
