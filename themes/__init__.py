"""The control room's themes: the only place hex colours are allowed.

Everything else (``controlroom.tcss``, widget ``DEFAULT_CSS``, ``Content`` styles) refers to theme
variables (``$error``, ``$text-warning``, ``$foreground-muted``...), so cycling themes recolours
the whole screen, including problem rows, the production banner and the health strip.

Three themes, cycled in this order by the App (``THEMES``):

- ``controlroom-dark``: the default; calm surfaces, so red and amber stand out at 3 a.m.
- ``controlroom-light``: for bright rooms and screen sharing.
- ``controlroom-high-contrast``: pure black and white with saturated signal colours, for
  projectors, low vision and terminals with poor colour rendering.
"""

from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

__all__ = ["CSS_PATH", "DARK", "HIGH_CONTRAST", "LIGHT", "THEMES", "THEMES_BY_NAME"]

CSS_PATH = Path(__file__).resolve().parent / "controlroom.tcss"
"""The App's stylesheet (layout of the dashboard, header states)."""

DARK = Theme(
    name="controlroom-dark",
    primary="#4C9BE8",
    secondary="#3A6EA5",
    accent="#E8A33D",
    warning="#E8B339",
    error="#E5484D",
    success="#46A758",
    foreground="#DCE1E6",
    background="#14171C",
    surface="#1B1F26",
    panel="#262C36",
    dark=True,
    variables={
        "block-cursor-text-style": "bold",
        "footer-key-foreground": "#4C9BE8",
    },
)

LIGHT = Theme(
    name="controlroom-light",
    primary="#1F5FA8",
    secondary="#3A6EA5",
    accent="#B25E00",
    warning="#B7791F",
    error="#C62828",
    success="#2E7D32",
    foreground="#1C2430",
    background="#F4F6F8",
    surface="#FFFFFF",
    panel="#E3E8EE",
    dark=False,
    variables={
        "block-cursor-text-style": "bold",
        "footer-key-foreground": "#1F5FA8",
    },
)

HIGH_CONTRAST = Theme(
    name="controlroom-high-contrast",
    primary="#FFFF00",
    secondary="#00FFFF",
    accent="#FF00FF",
    warning="#FFD700",
    error="#FF3030",
    success="#00FF66",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#1A1A1A",
    dark=True,
    luminosity_spread=0.3,
    text_alpha=1.0,
    variables={
        "block-cursor-background": "#FFFF00",
        "block-cursor-foreground": "#000000",
        "block-cursor-text-style": "bold",
        "block-cursor-blurred-background": "#555555",
        "block-cursor-blurred-foreground": "#FFFFFF",
        "foreground-muted": "#C0C0C0",
        "text-error": "#FF5050",
        "text-warning": "#FFD700",
        "text-success": "#00FF66",
        "border": "#FFFF00",
        "border-blurred": "#808080",
        "footer-key-foreground": "#FFFF00",
    },
)

THEMES: list[Theme] = [DARK, LIGHT, HIGH_CONTRAST]
"""Every theme in cycling order; the first is the default."""

THEMES_BY_NAME: dict[str, Theme] = {theme.name: theme for theme in THEMES}
"""Themes by name, for the config file's ``theme =`` setting."""
