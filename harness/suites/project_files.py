"""Files a suite reads besides itself (prompt files, includes, data tables), kept inside the project.

A suite is often someone else's file, and its text is sent to a model and
recorded in cassettes: it must not be able to read ~/.ssh or /etc. The project
is the directory `harness` runs in (for a suite outside it, run by its path from
elsewhere, the suite's own folder); a path is written relative to the suite
file, and once `..` and symlinks are resolved it must still be inside the
project. An absolute path is refused too: it would not work on another machine.
"""

from __future__ import annotations

from pathlib import Path


class ProjectPathError(Exception):
    """A path a suite may not read, or cannot: the message says why and how to fix it."""


def project_root(suite_dir: Path | None = None) -> Path:
    """The project: the directory `harness` runs in; for a suite outside it, the suite's own folder."""
    cwd = Path.cwd().resolve()
    if suite_dir is None:
        return cwd
    folder = suite_dir.resolve()
    return cwd if folder == cwd or cwd in folder.parents else folder


def shown(path: Path) -> str:
    """A path as messages and results show it: relative to the project when inside it."""
    try:
        return str(path.resolve().relative_to(project_root()))
    except (ValueError, OSError):
        return str(path)


def project_file(written: str, suite_dir: Path, what: str) -> Path:
    """The file ``written`` (relative to ``suite_dir``) names, checked to be a readable file inside the project.

    ``what`` names the key in messages, e.g. "prompt file" or "`cases_from` file". Raises ProjectPathError.
    """
    if not written.strip():
        raise ProjectPathError(f"the {what} path is empty; write a path relative to the suite file, "
                               "e.g. prompts/system.md")  # fmt: skip
    if "\x00" in written:
        raise ProjectPathError(f"the {what} path {written!r} is not a valid path")
    if Path(written).is_absolute() or written.startswith(("/", "\\", "~")) or (len(written) > 1 and written[1] == ":"):
        raise ProjectPathError(f"the {what} path {written!r} is absolute; write it relative to the suite file "
                               f"({shown(suite_dir)}/), inside the project")  # fmt: skip
    root = project_root(suite_dir)
    joined = suite_dir / written
    try:
        target = joined.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop
        raise ProjectPathError(f"the {what} path {written!r} cannot be resolved (a symlink loop?)") from None
    if target != root and root not in target.parents:
        lexical = Path(_normalise(joined))
        cwd = Path(_normalise(Path.cwd()))
        through = "a symlink that leads" if root in lexical.parents or cwd in lexical.parents else "a path that leads"
        raise ProjectPathError(f"the {what} path {written!r} is {through} outside the project ({root}); "
                               "a suite may only read files inside the directory harness runs in")  # fmt: skip
    if not target.exists():
        raise ProjectPathError(f"the {what} {written!r} does not exist (looked for {shown(joined)}; "
                               "the path is relative to the suite file)")  # fmt: skip
    if not target.is_file():
        raise ProjectPathError(f"the {what} {written!r} is not a file ({shown(joined)})")
    return target


def _normalise(path: Path) -> str:
    """``path`` made absolute with `..` folded away but symlinks kept: where it points before links are followed."""
    import os.path

    return os.path.normpath(os.path.abspath(path))


def read_text(path: Path, what: str) -> str:
    """A project file's text (UTF-8, a BOM dropped); raise ProjectPathError naming it."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ProjectPathError(f"the {what} {shown(path)} is not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    except OSError as e:
        raise ProjectPathError(f"cannot read the {what} {shown(path)}: {e.strerror or e}") from None
