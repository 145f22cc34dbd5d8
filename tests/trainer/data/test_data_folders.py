"""A data folder is walked through its symlinks: linked folders and files are read (each
file once), loops and broken links are reported with the link's path, nothing is skipped
without a word."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.trainer.data.samples import native, write
from trainer.data import find_data_files, validate_path
from trainer.data.folders import scan_data_folder

GREET = native("greet:\n  examples: [hi, hello, hey]\n")
BYE = native("bye:\n  examples: [bye, ciao, see you]\n")
THANKS = native("thanks:\n  examples: [thanks, thank you, cheers]\n")


def relative(paths: list[Path], root: Path) -> list[str]:
    return [path.relative_to(root).as_posix() for path in paths]


def messages(root: Path) -> list[str]:
    return [problem.format() for problem in validate_path(root).problems]


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """A folder outside the data folder, as a bot's shared intents would be."""
    write(tmp_path, "shared/bye.yml", BYE)
    write(tmp_path, "shared/more/thanks.yaml", THANKS)
    return tmp_path / "shared"


def test_a_symlinked_folder_is_read(tmp_path: Path, shared: Path) -> None:
    data = tmp_path / "data"
    write(data, "greet.yml", GREET)
    (data / "common").symlink_to(shared, target_is_directory=True)
    assert relative(find_data_files(data), data) == [
        "common/bye.yml",
        "common/more/thanks.yaml",
        "greet.yml",
    ]
    result = validate_path(data)
    assert result.data is not None, messages(data)
    assert result.data.labels == ("bye", "greet", "thanks")
    assert not result.problems


def test_a_symlinked_file_and_a_symlinked_root_are_read(tmp_path: Path, shared: Path) -> None:
    data = tmp_path / "data"
    write(data, "greet.yml", GREET)
    (data / "bye.yml").symlink_to(shared / "bye.yml")
    (tmp_path / "link").symlink_to(data, target_is_directory=True)
    assert relative(find_data_files(tmp_path / "link"), tmp_path / "link") == [
        "bye.yml",
        "greet.yml",
    ]


def test_a_loop_is_an_error_naming_the_link_and_its_target(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write(data, "greet.yml", GREET)
    write(data, "sub/bye.yml", BYE)
    (data / "sub" / "back").symlink_to("..", target_is_directory=True)
    scan = scan_data_folder(data)
    assert relative(list(scan.files), data) == ["greet.yml", "sub/bye.yml"]
    [problem] = scan.problems
    assert problem.severity == "error" and problem.source == data / "sub" / "back"
    assert "symlink loop" in problem.message and "'..'" in problem.message
    assert f"the folder {data}" in problem.message and "contains the link" in problem.message
    assert validate_path(data).data is None


def test_a_loop_through_a_folder_outside_is_caught(tmp_path: Path) -> None:
    data = tmp_path / "bot" / "data"
    write(data, "greet.yml", GREET)
    write(data, "bye.yml", BYE)
    (data / "up").symlink_to(tmp_path / "bot", target_is_directory=True)
    scan = scan_data_folder(data)
    assert relative(list(scan.files), data) == ["bye.yml", "greet.yml"]
    [problem] = scan.problems
    assert problem.source == data / "up" / "data" and "symlink loop" in problem.message
    assert f"through the symlink {data / 'up'}" in problem.message


def test_a_folder_reached_twice_is_read_once_with_a_warning(tmp_path: Path, shared: Path) -> None:
    data = tmp_path / "data"
    write(data, "greet.yml", GREET)
    (data / "a").symlink_to(shared, target_is_directory=True)
    (data / "b").symlink_to(shared, target_is_directory=True)
    (data / "c.yml").symlink_to(data / "greet.yml")
    result = validate_path(data)
    assert result.data is not None, messages(data)
    assert relative(list(result.data.sources), data) == [
        "a/bye.yml",
        "a/more/thanks.yaml",
        "greet.yml",
    ]
    assert [(p.source, p.severity) for p in result.problems] == [
        (data / "b", "warning"),
        (data / "c.yml", "warning"),
    ]
    assert f"the same folder as {data / 'a'}" in result.problems[0].message
    assert f"the same file as {data / 'greet.yml'}" in result.problems[1].message


def test_the_real_folder_wins_over_a_link_to_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write(data, "zz/greet.yml", GREET)
    write(data, "bye.yml", BYE)
    (data / "aa").symlink_to("zz", target_is_directory=True)
    scan = scan_data_folder(data)
    assert relative(list(scan.files), data) == ["bye.yml", "zz/greet.yml"]
    assert [p.source for p in scan.problems] == [data / "aa"]


def test_broken_links_are_reported(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write(data, "greet.yml", GREET)
    write(data, "bye.yml", BYE)
    (data / "gone.yml").symlink_to(tmp_path / "nowhere.yml")
    (data / "gone").symlink_to(tmp_path / "nowhere", target_is_directory=True)
    problems = validate_path(data).problems
    assert [(p.source, p.severity) for p in problems] == [
        (data / "gone", "warning"),
        (data / "gone.yml", "error"),
    ]
    assert all("broken symlink" in p.message and "nowhere" in p.message for p in problems)


def test_an_unreadable_folder_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    write(data, "greet.yml", GREET)
    write(data, "bye.yml", BYE)
    write(data, "locked/thanks.yml", THANKS)
    scandir = os.scandir

    def locked(path: Path) -> Iterator[os.DirEntry[str]]:
        if Path(path).name == "locked":  # chmod 0 would not stop root
            raise PermissionError(13, "Permission denied")
        return scandir(path)

    monkeypatch.setattr(os, "scandir", locked)
    [problem] = validate_path(data).problems
    assert problem.source == data / "locked" and problem.severity == "error"
    assert "cannot read the folder: Permission denied" in problem.message
