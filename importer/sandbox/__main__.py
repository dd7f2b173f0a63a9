"""``python -m importer.sandbox``: run a Kantata sandbox in the foreground until Ctrl+C."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .knobs import BULK_MODES, SandboxConfig
from .server import serve_forever


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m importer.sandbox",
        description="Serve a local stand-in for the Kantata OX API on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free one)")
    parser.add_argument("--seed", help="JSON seed file (default: the bundled seed)")
    parser.add_argument(
        "--db", default=":memory:", help="SQLite file to keep the state in (default: in memory)"
    )
    parser.add_argument("--token", help="bearer token to accept (default: a random one)")
    parser.add_argument("--rate", type=float, help="requests per second before 429 (default: off)")
    parser.add_argument(
        "--fail-rate", type=float, default=0.0, help="fraction of requests answered 503"
    )
    parser.add_argument(
        "--drop-after-commit",
        type=float,
        default=0.0,
        help="fraction of create requests whose write commits but whose reply is lost",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="milliseconds added to every request"
    )
    parser.add_argument(
        "--bulk-mode",
        choices=BULK_MODES,
        default="atomic",
        help="how a bulk create with some bad objects behaves (default: atomic)",
    )
    parser.add_argument("--random-seed", type=int, help="make the fault knobs deterministic")
    parser.add_argument(
        "--max-per-page", type=int, default=200, help="largest per_page honoured (default: 200)"
    )
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """The :class:`SandboxConfig` for parsed command-line arguments."""
    return SandboxConfig(
        port=args.port,
        db_path=args.db,
        seed=args.seed,
        token=args.token,
        rate=args.rate,
        fail_rate=args.fail_rate,
        drop_after_commit=args.drop_after_commit,
        latency_ms=args.latency_ms,
        bulk_mode=args.bulk_mode,
        random_seed=args.random_seed,
        max_per_page=args.max_per_page,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        serve_forever(config)
    except (OSError, ValueError) as exc:  # port taken, unreadable seed or database, ...
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
