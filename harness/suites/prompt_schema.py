"""Message text (inline, or `{file: path}` for a prompt file) and the suite's shared checks (`defaults:`)."""

from __future__ import annotations

from dataclasses import replace

from harness.core.locations import Loc
from harness.core.suite import Check, PromptFile
from harness.core.yaml_positions import PosDict, PosList
from harness.suites.project_files import ProjectPathError, project_file
from harness.suites.schema_base import ValidatorBase, kind_of

DEFAULTS_KEYS = {"expect"}


class PromptKeys(ValidatorBase):
    """Where a suite takes message text, and `defaults: {expect: [...]}`."""

    def check(self, data: object, loc: Loc, where: str) -> Check | None:
        raise NotImplementedError  # the suite validator's (harness/suites/schema.py)

    def text(self, data: PosDict, key: str, where: str) -> str | PromptFile | None:
        """Message text: inline (a template) or `{file: path}`, a prompt file inside the project."""
        if key not in data or data[key] is None:
            return None
        value = data[key]
        if isinstance(value, str):
            return value
        if not isinstance(value, PosDict) or "file" not in value:
            self.add(data.value_locs[key], f"`{key}` in {where} must be text or `{{file: path}}` (a prompt file "
                                           f"relative to the suite file), got {kind_of(value)}")  # fmt: skip
            return None
        return self.prompt_file(value, f"`{key}` in {where}")

    def prompt_file(self, value: PosDict, where: str) -> PromptFile | None:
        """`{file: path}`: the path checked now (inside the project, a file), read when the case is rendered."""
        for extra in value:
            if extra != "file":
                self.add(value.key_locs[extra], f"unknown key {extra!r} beside `file` in {where}; "
                                                "`{file: path}` takes only the path")  # fmt: skip
        written = value["file"]
        loc = value.value_locs["file"]
        if not isinstance(written, str):
            self.add(loc, f"`file` in {where} must be a path relative to the suite file, got {kind_of(written)}")
            return None
        try:
            self.files.append(project_file(written, self.path.parent, "prompt file"))
        except ProjectPathError as e:
            self.add(loc, f"{e} ({where})")
            return None
        return PromptFile(written, loc)

    def defaults(self, data: PosDict) -> list[Check]:
        """`defaults: {expect: [...]}`: checks added to every turn of every case that does not opt out."""
        where = "`defaults` of the suite"
        block = self.typed(data, "defaults", dict, "a mapping like {expect: [{not_icontains: 'as an AI'}]}", "the suite")
        if block is None:
            return []
        self.keys(block, DEFAULTS_KEYS, where)
        expect = block.get("expect")
        if not isinstance(expect, PosList):
            self.add(block.value_locs.get("expect", block.loc), f"{where} needs `expect:`, a list of checks "
                                                                "added to every turn, e.g. `- not_icontains: as an AI`")  # fmt: skip
            return []
        checks = [self.check(item, loc, where) for item, loc in zip(expect, expect.item_locs)]
        return [replace(c, default=True) for c in checks if c is not None]
