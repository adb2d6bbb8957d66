"""The launcher: the one place that sees both faces of the program.

Why a room of its own (a departure from ARCHITECTURE.md, which names no launcher): the
``controlroom`` command is both a pipeline CLI (``cli/``, which must never load Textual) and a
screen (``tui/``, which must not depend on the CLI). Neither may import the other, so the
console script lives here: :mod:`cli.main` parses and answers every headless command, and only
the commands that open a screen are handed to :mod:`tui.run`, imported at that moment. Nothing
imports this package (an import-linter contract).
"""
