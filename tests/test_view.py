"""`harness view`: lists runs, opens reports, diffs two runs or two variants, serves nothing outside the folder."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.view import is_loopback, safe_path
from tests.test_report_browser import browser, off_loop  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)  # sent as written: no client-side normalisation of '..'
    r = conn.getresponse()
    return r.status, r.read()


@pytest.fixture
def served(tmp_path, harness_cli, monkeypatch):
    """Two runs of the shipped examples (one with variants) under tmp_path/reports, served by `harness view`."""
    monkeypatch.chdir(ROOT)
    for name, paths in (("base", ["evals/support.yaml", "evals/variants.yaml"]), ("head", ["evals/variants.yaml"])):
        r = off_loop(harness_cli, "run", *paths, "--out", tmp_path / "reports" / name, "-q")
        assert r.code == 0, r.err
    (tmp_path / "secret.txt").write_text("top secret")
    os.symlink(tmp_path / "secret.txt", tmp_path / "reports/base/link.txt")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PYTEST_"))}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "view", str(tmp_path / "reports"), "--port", "0"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    line = proc.stdout.readline()
    assert line.startswith("serving "), line + proc.stderr.read()
    port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
    yield port
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    assert "Traceback" not in proc.stderr.read()


def test_view_lists_runs_and_serves_their_reports(served):
    status, body = _get(served, "/")
    assert status == 200
    page = body.decode()
    assert 'href="/runs/base/report.html"' in page and 'href="/runs/head/report.html"' in page
    assert "friendly, terse, sampled" in page
    status, body = _get(served, "/runs/base/report.html")
    assert status == 200 and b"prompt-harness" in body


@pytest.mark.parametrize("path", [
    "/runs/../secret.txt", "/runs/base/../../secret.txt", "/runs/%2e%2e/secret.txt", "/runs/%2E%2E%2Fsecret.txt",
    "/runs//etc/passwd", "/runs/%2Fetc%2Fpasswd", "/runs/base/%252e%252e/x", "/runs/base/link.txt",
    "/runs/base\\..\\..\\secret.txt", "/runs/base/%00", "/../secret.txt", "/runs/C:/Windows/win.ini",
])  # fmt: skip
def test_nothing_outside_the_folder_is_served(served, path):
    status, body = _get(served, path)
    assert status == 404 and b"secret" not in body and b"root:" not in body


def test_safe_path_and_loopback(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a/f.html").write_text("x")
    assert safe_path(tmp_path, "a/f.html") == (tmp_path / "a/f.html").resolve()
    assert safe_path(tmp_path, "a/../a/f.html") is None
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_other_interfaces_are_refused_without_allow_remote(harness_cli, tmp_path):
    (tmp_path / "reports").mkdir()
    r = harness_cli("view", tmp_path / "reports", "--host", "0.0.0.0", "--port", "0")
    assert r.code == 2 and "--allow-remote" in r.err


@pytest.mark.browser
def test_viewer_diffs_two_runs_and_two_variants_in_chromium(served, browser, tmp_path):  # noqa: F811
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"http://127.0.0.1:{served}/")
    assert page.locator("#runs tbody tr").count() == 2
    where = ROOT / "docs" if os.environ.get("HARNESS_UPDATE_SCREENSHOTS") else tmp_path
    page.screenshot(path=str(where / "viewer.png"), full_page=True)
    page.select_option("#base", "base")
    page.select_option("#head", "head")
    page.click("#pick-runs button")
    page.wait_for_function("() => window.harnessReady")
    assert "base" in page.locator("body").inner_text() and "removed" in page.locator("body").inner_text()
    page.goto(f"http://127.0.0.1:{served}/")
    page.select_option("#vrun", "base")
    page.fill("#bv", "friendly")
    page.fill("#hv", "sampled")
    page.click("#pick-variants button")
    page.wait_for_function("() => window.harnessReady")
    assert "base [friendly]" in page.locator("body").inner_text()
    assert errors == []
    page.close()
