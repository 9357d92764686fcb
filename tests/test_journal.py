"""The run journal and run.json: every finished case on disk at once; torn and foreign files handled."""

from __future__ import annotations

import json

import pytest

from harness.core.reply import Completion, Usage
from harness.core.result import CaseResult, TurnResult, case_to_dict
from harness.core.settings import RunSettings
from harness.execution.journal import Journal, RunFolder, RunFolderError, read_journal


def case(i: int, status: str = "passed") -> CaseResult:
    reply = Completion(f"reply {i}", "stop", Usage(10, 2, 12), latency_ms=5.0)
    return CaseResult("suite", f"c{i}", status, file="s.yaml", model="m",
                      turns=[TurnResult(1, [{"role": "user", "content": f"hi {i}"}], {}, reply=reply)])  # fmt: skip


def test_each_case_is_on_disk_as_soon_as_it_is_appended(tmp_path):
    folder = RunFolder(tmp_path / "out")
    journal = folder.start(RunSettings(paths=["evals"]).to_dict())
    journal.append(case(1))
    lines = folder.journal_path.read_text().splitlines()  # read while the journal is still open
    assert len(lines) == 1 and json.loads(lines[0]) == json.loads(json.dumps(case_to_dict(case(1))))
    journal.append(case(2, "failed"))
    assert len(folder.journal_path.read_text().splitlines()) == 2
    journal.close()
    contents = read_journal(folder.journal_path)
    assert [c.id for c in contents.cases.values()] == ["c1", "c2"]
    assert contents.cases[("suite", "c2", 0)].status == "failed"
    assert contents.cases[("suite", "c1", 0)].turns[0].reply.content == "reply 1"


def test_a_torn_last_line_is_dropped_and_cut_off_before_appending(tmp_path, capsys):
    folder = RunFolder(tmp_path)
    journal = folder.start({})
    journal.append(case(1))
    journal.append(case(2))
    journal.close()
    whole = folder.journal_path.read_bytes()
    folder.journal_path.write_bytes(whole[: len(whole) - 40])  # the process died mid-line
    contents, journal = folder.resume()
    assert list(contents.cases) == [("suite", "c1", 0)]
    journal.append(case(3))
    journal.close()
    lines = folder.journal_path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["c1", "c3"]  # no glued half line
    assert "warning" not in capsys.readouterr().err  # a torn tail is expected after a kill, not news


def test_a_garbled_middle_line_is_skipped_with_a_warning(tmp_path, capsys):
    folder = RunFolder(tmp_path)
    good = json.dumps(case_to_dict(case(1)))
    folder.journal_path.write_text(f"{good}\n\x00\x00garbage\n[1, 2]\n{json.dumps(case_to_dict(case(2)))}\n")
    contents, journal = folder.resume()
    journal.close()
    assert [k[1] for k in contents.cases] == ["c1", "c2"]
    err = capsys.readouterr().err
    assert f"{folder.journal_path}:2: not a finished case" in err and f"{folder.journal_path}:3:" in err


def test_a_journal_that_cannot_be_written_warns_once_and_the_run_goes_on(tmp_path, capsys):
    folder = RunFolder(tmp_path)

    class Full:
        def write(self, _):
            raise OSError(28, "No space left on device")

        def close(self):
            pass

    journal = Journal(folder.journal_path, Full())  # the disk fills up after the journal was opened
    journal.append(case(1))
    journal.append(case(2))
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "No space left on device" in err and str(folder.journal_path) in err


def test_run_file_keeps_settings_but_never_the_key(tmp_path, monkeypatch):
    key = "sk-test-SECRET-4f1c9e7d2b8a6035"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    settings = RunSettings(paths=["evals"], model="m", base_url="http://127.0.0.1:1/v1", concurrency=3, rpm=60,
                           cassette_mode="off", cases=["wifi-*"], timeout=5)  # fmt: skip
    folder = RunFolder(tmp_path / "out")
    folder.start(settings.to_dict()).close()
    text = folder.run_file.read_text()
    assert key not in text
    again = RunSettings.from_dict(folder.load_settings())
    assert again == settings


def test_run_file_paths_follow_a_moved_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = RunFolder(tmp_path / "out")
    folder.start(RunSettings(paths=["evals/a.yaml"], cassette_dir="cassettes").to_dict()).close()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    settings = folder.load_settings()
    assert settings["paths"] == [str(tmp_path / "evals/a.yaml")]
    assert settings["cassette_dir"] == str(tmp_path / "cassettes")


@pytest.mark.parametrize("content, message", [
    (None, "run.json: not found"),
    ('{"format": "prompt-harness run", "version": 1, "sett', "run.json: cannot read the run settings"),
    ('{"format": "something else", "settings": {}}', "run.json: not a prompt-harness run file"),
    ('{"format": "prompt-harness run", "version": 99, "settings": {}}', "version 99 is newer than this harness"),
])  # fmt: skip
def test_a_run_folder_that_cannot_be_resumed_says_which_file_and_why(content, message, tmp_path):
    if content is not None:
        (tmp_path / "run.json").write_text(content)
    with pytest.raises(RunFolderError) as info:
        RunFolder(tmp_path).load_settings()
    assert message in str(info.value) and str(tmp_path) in str(info.value)
    with pytest.raises(RunFolderError, match="no such run folder"):
        RunFolder(tmp_path / "missing").load_settings()


def test_a_journal_line_crosses_a_pipe_whole():
    # A worker pickles each finished case's line and head for the parent; CaseHead and JournalLine reduce to their
    # fields in order, so every field (and any added later) comes through.
    import pickle
    from dataclasses import fields

    from harness.core.policy import CasePolicy
    from harness.execution.journal import journal_line

    finished = case(3, "failed")
    finished.policy = CasePolicy(repeats=2, pass_if={"at_least": 1}, usage_limits={"cost": 5.0})
    line = journal_line(finished)
    back = pickle.loads(pickle.dumps(line))
    assert back == line and back.head.policy == finished.policy
    names = [f.name for f in fields(line.head)]
    assert [getattr(back.head, n) for n in names] == [getattr(line.head, n) for n in names]
