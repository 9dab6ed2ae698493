"""``python -m telemetry`` / ``resilience-telemetry``: regenerate or check generated files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from telemetry.generate import GENERATORS, check, generate_all, write
from telemetry.rules.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="resilience-telemetry", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write the generated files (or --check them)")
    gen.add_argument("--root", type=Path, default=Path(), help="repository root to write into")
    gen.add_argument("--only", choices=sorted(GENERATORS), action="append", help="one generator")
    gen.add_argument("--check", action="store_true", help="exit 1 if committed files are stale")
    gen.add_argument("--config", type=Path, help="YAML or JSON mapping generator name -> options, e.g. {alerts: {...}}")
    args = parser.parse_args(argv)
    try:
        files = generate_all(args.only, _load(args.config) if args.config else None)
    except ConfigError as exc:
        # One line naming the key and what is allowed; a traceback would bury it.
        print(f"resilience-telemetry: {args.config or 'config'}: {exc}", file=sys.stderr)
        return 2
    if args.check:
        stale = check(args.root, files)
        for path in stale:
            print(f"stale: {path} (run `make generate`)", file=sys.stderr)
        return 1 if stale else 0
    for path in write(args.root, files):
        print(f"wrote {path}")
    return 0


def _load(path: Path) -> dict[str, Any]:
    """A YAML (or JSON, a subset of YAML) mapping of generator name -> options."""
    try:
        import yaml
    except ImportError as exc:
        msg = "--config needs PyYAML: pip install 'resilience-telemetry[rules]'"
        raise ImportError(msg) from exc
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        msg = f"cannot be read as YAML or JSON: {' '.join(str(exc).split())}"
        raise ConfigError(msg) from exc
    if not isinstance(data, dict):
        msg = "the config must be a mapping of generator name -> options, e.g. {alerts: {...}}"
        raise ConfigError(msg)
    unknown = sorted(set(data) - set(GENERATORS))
    if unknown:
        msg = f"{unknown[0]}: unknown generator section; allowed: {', '.join(sorted(GENERATORS))}"
        raise ConfigError(msg)
    return data


if __name__ == "__main__":
    sys.exit(main())
