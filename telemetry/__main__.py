"""The ``resilience-telemetry`` command (also ``python -m telemetry``): generate or check files.

The help text is plain text (argparse prints it as written), so it carries no reST markup.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from telemetry.generate import GENERATORS, check, generate_all, write
from telemetry.rules.config import ConfigError

DESCRIPTION = (
    "Generate the ops files from the metric catalog: Prometheus alert rules, Alertmanager "
    "routing and runbooks (alerts/), Grafana dashboards (dashboards/) and the metric table "
    "(docs/metrics.md), or check that committed copies are up to date."
)
GENERATE_EPILOG = """examples:
  resilience-telemetry generate --only alerts --config ops.yml --root deploy
      writes deploy/alerts/*.rules.yml, deploy/alerts/alertmanager.yml, deploy/alerts/runbooks.md
  resilience-telemetry generate --check
      exits 1 and names each file under the current directory that differs from a fresh generation
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="resilience-telemetry", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    gen = commands.add_parser(
        "generate",
        help="write the generated files (or --check them)",
        description="Write the generated files under --root, or --check them.",
        epilog=GENERATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gen.add_argument(
        "--root",
        type=Path,
        default=Path(),
        help="directory the files are written under (default: the current directory); "
        "alerts/, dashboards/ and docs/ are created below it",
    )
    gen.add_argument("--only", choices=sorted(GENERATORS), action="append", help="run only this generator (repeatable)")
    gen.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file under --root is stale")
    gen.add_argument(
        "--config",
        type=Path,
        help="YAML or JSON file: generator name -> options, e.g. 'alerts: {service_label: app}' (RulesConfig fields)",
    )
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
