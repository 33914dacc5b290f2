"""The README's performance table, regenerated from one ``python -m bench --out FILE``
document: every goal of that run with its figure, whether it is met and, where not, the
measured reason; the machine and its load above it. Rewrites what lies between the markers
in the README (``make bench`` runs it). Run: ``python -m bench.table FILE [--readme PATH]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"


def _cell(value: Any) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render(document: dict[str, Any]) -> str:
    """The table (markdown) of ``document``'s goals, by bench, in the order they ran."""
    m = document["machine"]
    loads = {
        name: (b.get("load_before"), b.get("load_after"), b.get("seconds"))
        for name, b in document["benches"].items()
    }
    lines = [
        f"Measured by `make bench` on {document['started']}: {m['cpus']} cores "
        f"({m['processor']}), Python {m['python']}; 1-minute load average before and after "
        "each bench in brackets (the machine is shared).",
        "",
        "| bench (load) | figure | measured | goal | met |",
        "|---|---|---|---|---|",
    ]
    for path, g in document["goals"].items():
        bench, _, figure = path.partition(".")
        before, after, _seconds = loads.get(bench, (None, None, None))
        load = f" ({before[0]:g} → {after[0]:g})" if before and after else ""
        met = "yes" if g["met"] else "**no**" + (f": {g['why']}" if g.get("why") else "")
        lines.append(f"| `{bench}`{load} | {figure} | {_cell(g['value'])} | {g['goal']} | {met} |")
    errors = [name for name, b in document["benches"].items() if "error" in b]
    if errors:
        lines += ["", "Failed to run: " + ", ".join(f"`{n}`" for n in errors) + "."]
    return "\n".join(lines)


def rewrite(readme: Path, table: str) -> None:
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: no {START} ... {END} markers to write the table between")
    head, rest = text.split(START, 1)
    _old, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.table", description=__doc__)
    parser.add_argument("document", type=Path, help="written by python -m bench --out")
    parser.add_argument("--readme", type=Path, help="rewrite its table (else print it)")
    args = parser.parse_args()
    table = render(json.loads(args.document.read_text()))
    if args.readme is None:
        print(table)
    else:
        rewrite(args.readme, table)


if __name__ == "__main__":
    main()
