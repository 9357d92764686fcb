"""A small GitHub Actions runner for tests: it plays a workflow file's jobs and steps on this machine.

Every ``run:`` step runs as written, with ``bash -e`` as Actions does, in a
workspace folder, with the environment variables Actions sets
(``GITHUB_WORKSPACE``, ``GITHUB_OUTPUT``, ``GITHUB_STEP_SUMMARY``, ``GITHUB_EVENT_PATH``...),
and ``${{ }}`` expressions evaluated first. The few actions the workflows use
are played by their effect: ``checkout`` clones the test's repository at the
ref, ``setup-python`` is a no-op (the test's Python is on PATH), and
``upload-artifact``/``download-artifact`` copy folders. Any other action, and
any expression this evaluator does not know, fails the test rather than
being skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACTIONS = ("actions/checkout@", "actions/setup-python@", "actions/upload-artifact@", "actions/download-artifact@")
_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||!|\(|\)|,)"
                    r"|(?P<name>[A-Za-z_][\w.-]*(?:\[\d+\])?))")  # fmt: skip


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def triggered(workflow: dict[str, Any], event: str, changed: list[str]) -> bool:
    """Whether ``event`` with these changed files starts the workflow (its `paths:` filter, if any)."""
    on = workflow["on"]
    if isinstance(on, str):
        return on == event
    if event not in on:
        return False
    paths = (on[event] or {}).get("paths")
    return not paths or any(_glob(p, f) for p in paths for f in changed)


def _glob(pattern: str, path: str) -> bool:
    """GitHub's path filter globs: `**` crosses folders, `*` does not."""
    regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    return re.fullmatch(regex, path) is not None


@dataclass
class Step:
    name: str
    outcome: str  # success, failure or skipped
    code: int | None
    output: str


@dataclass
class Job:
    name: str
    result: str  # success, failure or skipped
    steps: list[Step] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    permissions: Any = None

    @property
    def code(self) -> int:
        """The exit code of the step that failed the job (0 when none did)."""
        return next((s.code or 1 for s in self.steps if s.outcome == "failure"), 0)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


class Runner:
    """Runs one workflow for one event; ``repo`` is a git repository the checkout action clones."""

    def __init__(self, workflow: Path, repo: Path, home: Path, event: str, payload: dict[str, Any], *,
                 sha: str, ref: str, env: dict[str, str] | None = None, secrets: dict[str, str] | None = None,
                 variables: dict[str, str] | None = None, inputs: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.workflow = load(workflow)
        self.repo, self.home, self.event, self.payload = repo, home, event, payload
        self.sha, self.ref = sha, ref
        self.base_env = dict(env or {})
        self.secrets, self.vars, self.inputs = secrets or {}, variables or {}, inputs or {}
        self.artifacts = home / "artifacts"
        self.jobs: dict[str, Job] = {}

    def github(self) -> dict[str, Any]:
        repository = self.payload.get("repository", {}).get("full_name", "acme/prompts")
        return {"event": self.payload, "event_name": self.event, "sha": self.sha, "ref": self.ref,
                "ref_name": self.ref.removeprefix("refs/heads/"), "repository": repository, "run_id": "4242",
                "token": "ghs_test-token", "workspace": ""}  # fmt: skip

    def run(self) -> dict[str, Job]:
        pending = dict(self.workflow["jobs"])
        while pending:
            ready = [name for name, job in pending.items() if all(n in self.jobs for n in _list(job.get("needs")))]
            assert ready, f"jobs with unmet needs: {sorted(pending)}"
            for name in ready:
                self.jobs[name] = self._job(name, pending.pop(name))
        return self.jobs

    def _job(self, name: str, spec: dict[str, Any]) -> Job:
        needs = _list(spec.get("needs"))
        job = Job(name, "skipped", permissions=spec.get("permissions"))
        context = {"needs": {n: {"result": self.jobs[n].result, "outputs": self.jobs[n].outputs} for n in needs},
                   "steps": {}, "job_failed": any(self.jobs[n].result != "success" for n in needs)}  # fmt: skip
        if not self._truthy(spec.get("if", "success()"), context):
            return job
        workspace = self.home / "jobs" / name / "workspace"
        workspace.mkdir(parents=True)
        temp = workspace.parent / "tmp"
        temp.mkdir()
        summary_file = temp / "step_summary.md"
        summary_file.touch()
        event_path = temp / "event.json"
        event_path.write_text(json.dumps(self.payload))
        github = self.github() | {"workspace": str(workspace)}
        env = {**self.base_env, "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace),
               "GITHUB_STEP_SUMMARY": str(summary_file), "GITHUB_EVENT_NAME": self.event,
               "GITHUB_EVENT_PATH": str(event_path), "GITHUB_REPOSITORY": github["repository"],
               "GITHUB_SHA": self.sha, "GITHUB_REF": self.ref, "GITHUB_REF_NAME": github["ref_name"],
               "GITHUB_RUN_ID": github["run_id"], "RUNNER_TEMP": str(temp), "HOME": str(self.home)}  # fmt: skip
        context["github"] = github
        failed = False
        for index, step in enumerate(spec["steps"]):
            step_name = step.get("name") or step.get("uses") or f"step {index + 1}"
            context["job_failed"] = context["job_failed"] or failed
            ctx = context | {"env": {**env, **_strings(self.workflow.get("env")), **_strings(spec.get("env"))}}
            if not self._truthy(step.get("if", "success()"), ctx):
                job.steps.append(Step(step_name, "skipped", None, ""))
                continue
            step_env = {**ctx["env"], **{k: self._text(str(v), ctx) for k, v in (step.get("env") or {}).items()}}
            if "uses" in step:
                outcome = self._action(step["uses"], {k: self._text(str(v), ctx) for k, v in (step.get("with") or {}).items()},
                                       workspace)  # fmt: skip
                job.steps.append(outcome)
            else:
                outcome = self._script(step, ctx, step_env, workspace, temp)
                job.steps.append(Step(step_name, *outcome[:3]))
                if step.get("id"):
                    context["steps"][step["id"]] = {"outputs": outcome[3], "outcome": outcome[0]}
            job.steps[-1].name = step_name
            failed = failed or job.steps[-1].outcome == "failure"
        job.result = "failure" if failed else "success"
        ctx = context | {"job_failed": failed}
        job.outputs = {k: self._text(str(v), ctx) for k, v in (spec.get("outputs") or {}).items()}
        job.summary = summary_file.read_text()
        return job

    def _script(self, step: dict[str, Any], ctx: dict[str, Any], env: dict[str, str], workspace: Path,
                temp: Path) -> tuple[str, int, str, dict[str, str]]:  # fmt: skip
        outputs = temp / f"output-{len(list(temp.glob('output-*')))}"
        outputs.touch()
        script = temp / "step.sh"
        script.write_text(self._text(step["run"], ctx))
        cwd = workspace / step.get("working-directory", ".")
        done = subprocess.run(["bash", "-e", str(script)], cwd=cwd, env={**env, "GITHUB_OUTPUT": str(outputs)},
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        return ("success" if done.returncode == 0 else "failure", done.returncode, done.stdout + done.stderr,
                _outputs(outputs.read_text()))  # fmt: skip

    def _action(self, uses: str, args: dict[str, str], workspace: Path) -> Step:
        assert uses.startswith(ACTIONS), f"the test runner does not know the action {uses}"
        if uses.startswith("actions/checkout@"):
            dest = workspace / args.get("path", ".")
            ref = args.get("ref") or self.sha
            subprocess.run(["git", "clone", "-q", str(self.repo), str(dest)], check=True)
            subprocess.run(["git", "-C", str(dest), "checkout", "-q", ref], check=True)
        elif uses.startswith("actions/upload-artifact@"):
            source = workspace / args["path"]
            if source.exists():
                shutil.copytree(source, self.artifacts / args["name"], dirs_exist_ok=True)
        elif uses.startswith("actions/download-artifact@"):
            shutil.copytree(self.artifacts / args["name"], workspace / args.get("path", "."), dirs_exist_ok=True)
        return Step(uses, "success", 0, "")

    # --- expressions -----------------------------------------------------------------------

    def _text(self, text: str, ctx: dict[str, Any]) -> str:
        return _EXPR.sub(lambda m: _string(self._eval(m.group(1), ctx)), text)

    def _truthy(self, condition: Any, ctx: dict[str, Any]) -> bool:
        if isinstance(condition, bool):
            return condition
        text = str(condition).strip()
        text = text[3:-2] if text.startswith("${{") else text
        uses_status = re.search(r"\b(always|success|failure|cancelled)\(\)", text)
        value = self._eval(text, ctx)
        return bool(value) and (uses_status is not None or not ctx.get("job_failed"))

    def _eval(self, text: str, ctx: dict[str, Any]) -> Any:
        tokens = _tokens(text)
        value, rest = self._or(tokens, ctx)
        assert not rest, f"cannot evaluate {text!r} (left over: {rest})"
        return value

    def _or(self, t: list[tuple[str, str]], ctx: dict[str, Any]) -> tuple[Any, list[tuple[str, str]]]:
        value, t = self._and(t, ctx)
        while t and t[0] == ("op", "||"):
            right, t = self._and(t[1:], ctx)
            value = value or right
        return value, t

    def _and(self, t: list[tuple[str, str]], ctx: dict[str, Any]) -> tuple[Any, list[tuple[str, str]]]:
        value, t = self._compare(t, ctx)
        while t and t[0] == ("op", "&&"):
            right, t = self._compare(t[1:], ctx)
            value = value and right
        return value, t

    def _compare(self, t: list[tuple[str, str]], ctx: dict[str, Any]) -> tuple[Any, list[tuple[str, str]]]:
        value, t = self._unary(t, ctx)
        while t and t[0] in (("op", "=="), ("op", "!=")):
            op = t[0][1]
            right, t = self._unary(t[1:], ctx)
            same = _loose(value) == _loose(right)
            value = same if op == "==" else not same
        return value, t

    def _unary(self, t: list[tuple[str, str]], ctx: dict[str, Any]) -> tuple[Any, list[tuple[str, str]]]:
        kind, text = t[0]
        if (kind, text) == ("op", "!"):
            value, rest = self._unary(t[1:], ctx)
            return not value, rest
        if (kind, text) == ("op", "("):
            value, rest = self._or(t[1:], ctx)
            assert rest and rest[0] == ("op", ")"), "unbalanced parentheses"
            return value, rest[1:]
        if kind == "str":
            return text[1:-1].replace("''", "'"), t[1:]
        if kind == "num":
            return float(text), t[1:]
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text], t[1:]
        if t[1:2] == [("op", "(")]:
            assert t[2:3] == [("op", ")")], f"functions with arguments are not supported: {text}"
            status = {"always": True, "success": not ctx.get("job_failed"), "failure": bool(ctx.get("job_failed")),
                      "cancelled": False}  # fmt: skip
            assert text in status, f"unknown function {text}()"
            return status[text], t[3:]
        return self._lookup(text, ctx), t[1:]

    def _lookup(self, name: str, ctx: dict[str, Any]) -> Any:
        root, *path = name.split(".")
        sources = {"github": ctx.get("github") or self.github(), "steps": ctx.get("steps", {}),
                   "needs": ctx.get("needs", {}), "env": ctx.get("env", {}), "secrets": self.secrets,
                   "vars": self.vars, "inputs": self.inputs}  # fmt: skip
        assert root in sources, f"unknown context {root!r} in {name!r}"
        value: Any = sources[root]
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if root in ("secrets", "vars", "steps", "needs") and value is None:
            return ""
        return value


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        assert m and m.end() > pos, f"cannot read the expression {text!r} at {text[pos:]!r}"
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


def _loose(value: Any) -> Any:
    """Actions compares loosely: '3' == 3, and strings case-insensitively."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value.lower()
    if value is None:
        return ""
    return value


def _string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _strings(mapping: dict[str, Any] | None) -> dict[str, str]:
    return {k: _string(v) for k, v in (mapping or {}).items()}


def _list(value: Any) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def _outputs(text: str) -> dict[str, str]:
    """`name=value` lines, and `name<<DELIMITER` blocks, as Actions reads $GITHUB_OUTPUT."""
    out: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            out[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
    return out


def environment(bin_dirs: list[Path]) -> dict[str, str]:
    """A clean environment for the steps: PATH with ``bin_dirs`` first, nothing from the test's own env."""
    keep = {k: os.environ[k] for k in ("LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT") if k in os.environ}
    path = os.pathsep.join([str(d) for d in bin_dirs] + [os.environ.get("PATH", "/usr/bin:/bin")])
    return {**keep, "PATH": path}
