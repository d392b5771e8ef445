"""Help text for the sub-commands: their module docstrings, as a terminal shows them, and the help of the
options several commands share.

This module formats text only; it registers no command.
"""

from __future__ import annotations

from bootloader_model.quirks import HARMONY_NAME, PROFILE_NAMES

#: Help of every ``--quirks`` option (board, run, sweep, fuzz): they all read the value the same way.
QUIRKS_HELP = (
    f"virtual board quirk profile: {' or '.join(PROFILE_NAMES)} (default {HARMONY_NAME}), optionally followed by "
    "',+NAME' / ',-NAME' (otaloop quirks lists the names); an empty value is refused: leave the option out "
    "for the default"
)


def help_text(doc: str | None) -> str:
    """A module docstring as command help: reStructuredText ``literal`` markup removed."""
    return (doc or "").replace("``", "")
