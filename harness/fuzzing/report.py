"""Findings as text for a terminal and as the hazard section of ``docs/findings.md``.

:func:`text` prints a search's findings; :func:`markdown` renders them as the page's fuzzing section,
between the markers :data:`BEGIN` and :data:`END`, so other sections of the page (the sweep tables) are
left alone. ``python -m harness.fuzzing.report docs/findings.md`` reruns the documented search (budget and
seed of :data:`DOC_BUDGET` and :data:`DOC_SEED`) and rewrites that section in place.

This module formats and writes one file section; the search itself is :mod:`harness.fuzzing.search`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bootloader_model.bootloader.program import MODEL
from bootloader_model.errors import CallerError
from harness.fuzzing.hazards import HAZARDS, PROPERTIES
from harness.fuzzing.search import STEPS, Finding, Search, find_hazards
from harness.output_files import write_atomic

BEGIN = "<!-- fuzz findings: begin (python -m harness.fuzzing.report docs/findings.md) -->"
END = "<!-- fuzz findings: end -->"
#: The search the documentation shows (also pinned by tests/test_fuzz_hazards.py).
DOC_BUDGET = 300
DOC_SEED = 2
PAGE_TITLE = "# What goes wrong: hazards of Harmony v3.9.1 OTA, found on the virtual board\n"


def cause(finding: Finding) -> str:
    quirk = finding.error.hazard.quirk
    return f"quirk `{quirk}`" if quirk else finding.error.hazard.cause or "Harmony's design"


def text(search: Search) -> str:
    """A search's summary and every finding's report, for a terminal."""
    lines = [
        f"{len(search.findings)} hazard(s) in {search.examples} examples (budget {search.budget}, seed {search.seed}, "
        f"quirks {search.quirks}{'' if search.bootloader == MODEL else ', bootloader ' + search.bootloader}"
        f"{'' if search.application == MODEL else ', application ' + search.application}; "
        f"{search.replays} replays to shrink; {search.seconds:.1f} s)",
        "",
    ]
    for f in search.findings:
        lines.append(f.error.report())
    if not search.findings:
        lines.append("No safety property broke.")
    return "\n".join(lines).rstrip() + "\n"


def markdown(search: Search) -> str:
    """The fuzzing section of ``docs/findings.md`` (markers included)."""
    out = [
        BEGIN,
        "## Hazards the property-based fuzzer finds on its own",
        "",
        "`otaloop fuzz` runs `BoardStateMachine` (`harness/fuzzing/machine.py`), a hypothesis state machine "
        "over the whole virtual board and a fault-injecting image server. It starts as an update starts "
        "(factory v1 running, built with one of four OTA service configurations, v2 on the server) and its "
        "rules power the board off and on, cut power at a "
        "flash operation (before, after or half way through it), type control messages and garbage (also "
        "while a check or a download runs), serve images that crash or hang at boot, corrupted or truncated "
        "images and broken manifests, break the server and the network, and let virtual time pass. After every "
        "step it checks what a Harmony user expects, most of it on a copy of the flash powered up as if the "
        "power failed at that moment:",
        "",
    ]
    out += [f"- **({letter})** {words}." for letter, words in PROPERTIES.items()]
    out += [
        "",
        f"A broken property is a finding, named after the hazard it shows and shrunk to the fewest steps that "
        f"still show it. This section comes from `otaloop fuzz --budget {search.budget} --seed {search.seed} "
        f"--markdown` (profile `{search.quirks}`, {STEPS} steps per example; {search.examples} examples). "
        "Every finding replays alone: `otaloop fuzz --replay TOKEN` runs its steps again and prints the "
        "console.",
        "",
        "| hazard | property | spec (behaviour reference) | cause | steps | found at example |",
        "|---|---|---|---|---|---|",
    ]
    for f in search.findings:
        steps = f.error.steps.count("\n")
        spec = f.error.hazard.spec
        out.append(f"| [`{f.name}`](#{f.name}) | ({f.error.prop}) | {spec} | {cause(f)} | {steps} | {f.found_at} |")
    for f in search.findings:
        h = f.error.hazard
        out += [
            "",
            f"### {f.name}",
            "",
            f"{h.title[0].upper()}{h.title[1:]}. Spec: {h.spec}. Cause: {cause(f)}.",
            "",
            f"Broken property ({f.error.prop}): {PROPERTIES[f.error.prop]}. Seen: {f.error.seen}.",
            "",
            f.error.steps.rstrip("\n"),
            "",
            "```",
            f"otaloop fuzz --replay {f.token}",
            "```",
        ]
    found = {f.name for f in search.findings}
    missing = [name for name in HAZARDS if name not in found]
    out += [
        "",
        f"Not found in this search (named by the machine when seen): {', '.join(f'`{n}`' for n in missing)}.",
        END,
    ]
    return _tidy("\n".join(out)) + "\n"


def _tidy(md: str) -> str:
    # Numbered step lines come indented from the report; markdown wants them at the margin.
    lines = md.split("\n")
    return "\n".join(line.lstrip() if line.startswith("  ") and line.strip()[:1].isdigit() else line for line in lines)


def update_page(path: Path, section: str) -> None:
    """Replace the fuzzing section of ``path`` (between the markers), or add it; other text is kept."""
    page = path.read_text() if path.exists() else PAGE_TITLE
    if BEGIN in page and END in page:
        head, _, rest = page.partition(BEGIN)
        _, _, tail = rest.partition(END)
        page = head + section.rstrip("\n") + tail
    else:
        page = page.rstrip("\n") + "\n\n" + section
    write_atomic(path, page if page.endswith("\n") else page + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rewrite the fuzzing section of docs/findings.md.")
    parser.add_argument("page", type=Path, help="the markdown page, e.g. docs/findings.md")
    parser.add_argument("--budget", type=int, default=DOC_BUDGET)
    parser.add_argument("--seed", type=int, default=DOC_SEED)
    args = parser.parse_args(argv)
    try:
        search = find_hazards(budget=args.budget, seed_value=args.seed)
    except CallerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    update_page(args.page, markdown(search))
    print(f"{args.page}: {len(search.findings)} findings from {search.examples} examples", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
