"""A parse cache for cassettes: each cassette read before is read back as JSON, not YAML.

Parsing a cassette's YAML is the largest cost of a replay that the harness
itself adds (about 0.2 ms a cassette, a sixth of a 10,000-case replay); reading
the same data back as JSON takes a fifteenth of that. Entries are keyed by a
hash of the cassette's text and of the code that parses it, so an edited
cassette, an edited parser or another PyYAML is simply a miss, and an entry is
only written when JSON gives back exactly what the YAML held. Anything
unreadable is a miss and any error turns the cache off for the process:
nothing here can change what a replay sees.

One SQLite file (stdlib, WAL, safe for parallel runs), not a file per cassette:
creating 10,000 small files cost more than the YAML it saves. It lives in
``$HARNESS_CACHE_DIR`` (default ``$XDG_CACHE_HOME/prompt-harness`` or
``~/.cache/prompt-harness``); an empty ``HARNESS_CACHE_DIR`` turns it off. It
holds copies of cassette contents, which never contain an API key (see
harness/cassette_files.py); delete the file to empty it.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

FORMAT = 1
DB_NAME = f"cassettes-v{FORMAT}.sqlite3"

BATCH = 256  # entries written per transaction: one commit per cassette cost more than the parse it saves

_lock = threading.Lock()
_connections: dict[Path, Any] = {}  # one per cache file and process; None once it failed
_pending: dict[Path, list[tuple[bytes, str]]] = {}


def _forget_inherited() -> None:
    """In a forked child (a `--workers` process): open a connection of its own, and do not write the parent's
    pending entries twice; an SQLite connection must not cross a fork."""
    global _lock
    _lock = threading.Lock()
    _connections.clear()
    _pending.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited)


def cache_dir() -> Path | None:
    """Where the cache file lives, or None when the cache is off."""
    configured = os.environ.get("HARNESS_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "prompt-harness"


@functools.lru_cache(maxsize=1)
def _fingerprint() -> bytes:
    """The parser's identity: this module, cassette_files.py, cassette_yaml.py, sse.py and PyYAML's version."""
    import yaml

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(f"{FORMAT} {yaml.__version__}\n".encode())
    for name in ("cassette_cache.py", "cassette_files.py", "cassette_yaml.py", "sse.py"):
        digest.update((here / name).read_bytes())
    return digest.digest()


def _key(text: str) -> bytes:
    return hashlib.sha256(_fingerprint() + text.encode("utf-8", "surrogatepass")).digest()


def _connection() -> Any:
    root = cache_dir()
    if root is None:
        return None
    path = root / DB_NAME
    if path in _connections:
        return _connections[path]
    try:
        import sqlite3

        root.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=0.2, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")  # a cache: losing the last entries in a power cut is fine
        db.execute("CREATE TABLE IF NOT EXISTS parsed (key BLOB PRIMARY KEY, data TEXT NOT NULL)")
    except Exception:  # noqa: BLE001 (no sqlite3, read-only home, a damaged file: run without the cache)
        db = None
    _connections[path] = db
    return db


def _give_up() -> None:
    root = cache_dir()
    if root is not None:
        _connections[root / DB_NAME] = None


def get(text: str) -> dict[str, Any] | None:
    """The parsed cassette for ``text`` if it was parsed before, else None."""
    with _lock:
        db = _connection()
        if db is None:
            return None
        try:
            row = db.execute("SELECT data FROM parsed WHERE key = ?", (_key(text),)).fetchone()
        except Exception:  # noqa: BLE001
            _give_up()
            return None
    if row is None:
        return None
    try:
        data = json.loads(row[0])
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("interactions"), list) else None


def put(text: str, data: dict[str, Any]) -> None:
    """Remember a parse; skipped when JSON would not give ``data`` back exactly, or on any error."""
    try:
        encoded = json.dumps(data, ensure_ascii=False, allow_nan=False)
        if json.loads(encoded) != data:  # e.g. a non-string key or a date the YAML held
            return
    except (TypeError, ValueError):
        return
    with _lock:
        root = cache_dir()
        if root is None or _connection() is None:
            return
        path = root / DB_NAME
        if not _pending:
            atexit.register(flush)
        batch = _pending.setdefault(path, [])
        batch.append((_key(text), encoded))
        if len(batch) >= BATCH:
            _write(path)


def flush() -> None:
    """Write every remembered parse (run at exit; a batch is written as soon as it fills)."""
    with _lock:
        for path in list(_pending):
            _write(path)


def _write(path: Path) -> None:
    rows, _pending[path] = _pending[path], []
    db = _connections.get(path)
    if db is None or not rows:
        return
    try:
        db.execute("BEGIN")
        db.executemany("INSERT OR IGNORE INTO parsed (key, data) VALUES (?, ?)", rows)
        db.execute("COMMIT")
    except Exception:  # noqa: BLE001 (another run holds the write lock, disk full: these entries are skipped)
        try:
            db.execute("ROLLBACK")
        except Exception:  # noqa: BLE001
            pass
