"""``python -m importer.sandbox``: the very command ``importer sandbox`` (one CLI, one table
of options and defaults: ``importer.sandbox.sandbox_cmd``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``importer sandbox`` with ``argv``; returns the exit code."""
    import typer

    from importer.sandbox._command import sandbox_cmd

    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command()(sandbox_cmd)
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        single(args=args, prog_name="python -m importer.sandbox")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
