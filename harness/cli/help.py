"""Help text for the sub-commands: their module docstrings, as a terminal shows them.

This module formats text only; it registers no command.
"""

from __future__ import annotations


def help_text(doc: str | None) -> str:
    """A module docstring as command help: reStructuredText ``literal`` markup removed."""
    return (doc or "").replace("``", "")
