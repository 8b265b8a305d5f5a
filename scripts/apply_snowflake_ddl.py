"""Apply deploy/snowflake/*.sql to an account, in file order, idempotently.

Every statement is ``CREATE ... IF NOT EXISTS``, ``CREATE OR REPLACE`` or another
statement safe to repeat, so running the script again changes nothing. ``{{NAME}}``
placeholders are filled from ``--var NAME=value`` (DATABASE defaults to conf's
``snowflake.database``); values are checked before they reach the SQL.

    python scripts/apply_snowflake_ddl.py --env prod \\
        --var LAKE_URL=s3://lake/warehouse/processed/ --var STORAGE_INTEGRATION=LAKE_S3
    python scripts/apply_snowflake_ddl.py --env prod --account --var AWS_ROLE_ARN=arn:...
    python scripts/apply_snowflake_ddl.py --dry-run --var DATABASE=RETAIL ...

Connection and credential come from conf + secrets, as for the jobs (docs/snowflake.md).
``00_account.sql`` (warehouses, roles, storage integration) runs only with ``--account``.
``--skip-kind`` leaves out statement kinds an emulator cannot run (see docs/snowflake.md).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DDL_DIR = Path(__file__).resolve().parent.parent / "deploy" / "snowflake"
ACCOUNT_FILE = "00_account.sql"
PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
#: What each placeholder may hold.
VARIABLE_PATTERNS = {
    "DATABASE": re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$"),
    "STORAGE_INTEGRATION": re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$"),
    "LAKE_URL": re.compile(r"^(s3|gcs|azure)://[A-Za-z0-9._/-]+/$"),
    "AWS_ROLE_ARN": re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]+$"),
}
_KIND_NOISE = {"OR", "REPLACE", "IF", "NOT", "EXISTS", "SECURE", "TRANSIENT", "TEMPORARY"}


class DdlError(ValueError):
    """A DDL file or variable that cannot be applied as is; the message says what to fix."""


@dataclass(frozen=True)
class DdlStatement:
    """One statement of a DDL file, placeholders filled."""

    file: str
    sql: str

    @property
    def kind(self) -> str:
        """``CREATE TABLE``, ``CREATE MASKING POLICY``, ``ALTER TABLE``, ``INSERT`` ..."""
        return statement_kind(self.sql)


def statement_kind(sql: str) -> str:
    """The statement's verb and object type, without OR REPLACE / IF NOT EXISTS / SECURE."""
    words = re.findall(r"[A-Za-z_]+", sql.split("(")[0])
    verb = words[0].upper() if words else ""
    if verb not in ("CREATE", "ALTER", "DROP"):
        return verb
    kind = []
    for word in words[1:]:
        upper = word.upper()
        if upper in _KIND_NOISE:
            continue
        kind.append(upper)
        if upper in ("TABLE", "VIEW", "SCHEMA", "DATABASE", "STAGE", "FUNCTION", "ROLE",
                     "WAREHOUSE", "INTEGRATION", "POLICY", "FORMAT", "SEQUENCE"):
            break
    if kind[-1:] == ["TABLE"] and verb == "ALTER" and re.search(r"(?i)\bMASKING\s+POLICY\b", sql):
        kind.append("SET MASKING POLICY")
    return " ".join([verb, *kind])


def split_statements(text: str) -> list[str]:
    """The ``;``-separated statements of ``text`` (quotes, ``$$`` bodies and comments respected)."""
    statements, current, i = [], [], 0
    while i < len(text):
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end + 1
            current.append("\n")
            continue
        if text.startswith("$$", i):
            end = text.find("$$", i + 2)
            if end < 0:
                raise DdlError("unterminated $$ body")
            current.append(text[i:end + 2])
            i = end + 2
            continue
        char = text[i]
        if char in ("'", '"'):
            end = i + 1
            while end < len(text):
                if text[end] == char and text.startswith(char * 2, end):
                    end += 2
                    continue
                if text[end] == char:
                    break
                end += 1
            if end >= len(text):
                raise DdlError(f"unterminated {char} quote")
            current.append(text[i:end + 1])
            i = end + 1
            continue
        if char == ";":
            statements.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        i += 1
    statements.append("".join(current).strip())
    return [s for s in statements if s]


def render(text: str, variables: dict[str, str], file: str) -> str:
    """``text`` with ``{{NAME}}`` replaced; every name must be given and valid."""
    missing = sorted({m for m in PLACEHOLDER.findall(text) if m not in variables})
    if missing:
        raise DdlError(f"{file}: set {', '.join(missing)} with --var NAME=value")
    return PLACEHOLDER.sub(lambda m: variables[m.group(1)], text)


def check_variables(variables: dict[str, str]) -> dict[str, str]:
    """``variables`` if each known one matches its pattern (they are pasted into SQL)."""
    for name, value in variables.items():
        pattern = VARIABLE_PATTERNS.get(name)
        if pattern is None:
            raise DdlError(f"--var {name}: unknown (known: {', '.join(sorted(VARIABLE_PATTERNS))})")
        if not pattern.match(value):
            raise DdlError(f"--var {name}={value!r}: does not match {pattern.pattern}")
    return variables


def ddl_files(directory: Path = DDL_DIR, account: bool = False) -> list[Path]:
    """The DDL files in apply order (``NN_name.sql``), the account file only when asked."""
    files = sorted(directory.glob("[0-9][0-9]_*.sql"))
    return [f for f in files if account or f.name != ACCOUNT_FILE]


def load_statements(files: Iterable[Path], variables: dict[str, str]) -> list[DdlStatement]:
    """Every statement of ``files``, placeholders filled, in order."""
    statements = []
    for path in files:
        text = render(path.read_text(encoding="utf-8"), variables, path.name)
        statements += [DdlStatement(path.name, sql) for sql in split_statements(text)]
    return statements


def apply(
    cursor: Any,
    statements: Sequence[DdlStatement],
    skip_kinds: Iterable[str] = (),
    echo: Callable[[str], None] = lambda line: None,
) -> list[DdlStatement]:
    """Run ``statements`` in order (stopping at the first error); return the skipped ones."""
    skip = {k.upper() for k in skip_kinds}
    skipped = []
    for statement in statements:
        if statement.kind in skip:
            skipped.append(statement)
            echo(f"skip  {statement.file}: {statement.kind}")
            continue
        echo(f"apply {statement.file}: {statement.kind}")
        try:
            cursor.execute(statement.sql)
        except Exception as exc:
            first_line = statement.sql.splitlines()[0]
            raise DdlError(f"{statement.file}: {first_line} ... failed: {exc}") from exc
    return skipped


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local", help="conf overlay with the snowflake: section")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--account", action="store_true", help=f"also apply {ACCOUNT_FILE}")
    parser.add_argument("--skip-kind", action="append", default=[], metavar="KIND",
                        help='statement kind to leave out, e.g. "CREATE MASKING POLICY"')
    parser.add_argument("--dry-run", action="store_true", help="print the statements only")
    parser.add_argument("--ddl-dir", type=Path, default=DDL_DIR)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from etl_lib.config import ConfigError, load_config

    try:
        variables = dict(item.split("=", 1) for item in args.var)
        settings = None
        if "DATABASE" not in variables or not args.dry_run:
            settings = load_config(args.env, args.conf).snowflake
            if settings is None:
                raise ConfigError(f"conf error: snowflake: section missing in env {args.env}")
            variables.setdefault("DATABASE", settings.database)
        files = ddl_files(args.ddl_dir, args.account)
        statements = load_statements(files, check_variables(variables))
    except (ConfigError, DdlError, ValueError) as exc:
        print(f"apply_snowflake_ddl: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        for statement in statements:
            print(f"-- {statement.file}\n{statement.sql};\n")
        return 0
    import snowflake.connector

    from etl_lib.io.snowflake_auth import python_connect_args, resolve_credentials

    assert settings is not None
    connect_args = python_connect_args(settings, resolve_credentials(settings))
    with contextlib.closing(snowflake.connector.connect(**connect_args)) as connection:
        try:
            skipped = apply(connection.cursor(), statements, args.skip_kind, print)
        except DdlError as exc:
            print(f"apply_snowflake_ddl: {exc}", file=sys.stderr)
            return 1
    print(f"applied {len(statements) - len(skipped)} statements, skipped {len(skipped)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
