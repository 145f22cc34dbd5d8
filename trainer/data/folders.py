"""Find the YAML files of a data folder, following its symlinks.

Folders are visited fewest symlinks first, then in path order, so when one folder or file is
reachable twice the plain path is the one kept and the symlink is the one reported. A folder
is identified by its device and inode: one that contains its own path again is a loop (an
error: following it never ends, and the link usually points somewhere its author did not
mean), one already read is read once (a warning).
"""

from __future__ import annotations

import heapq
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from trainer.data.model import ERROR, WARNING, Problem

YAML_SUFFIXES = (".yml", ".yaml")

_Identity = tuple[int, int]  # (st_dev, st_ino)


@dataclass(frozen=True)
class FolderScan:
    files: tuple[Path, ...]  # sorted by their path inside the folder, each file once
    problems: tuple[Problem, ...]  # loops, broken links, unreadable folders, things read twice


def find_data_files(path: Path) -> list[Path]:
    """A file is itself; a folder is every *.yml/*.yaml inside, recursively, sorted."""
    return [path] if path.is_file() else list(scan_data_folder(path).files)


def scan_data_folder(root: Path) -> FolderScan:
    """Every YAML file under `root` (hidden names left out), and what got in the way."""
    walk = _Walk(root)
    walk.run()
    return walk.result()


@dataclass(order=True)
class _Item:
    """A folder or file found on the way; ordered by how it should win over its copies."""

    links: int  # symlinks on its path below the root
    key: str  # its path inside the root, as text
    path: Path = field(compare=False)
    identity: _Identity = field(compare=False)
    via: Path | None = field(compare=False)  # the last symlink on its path


def _identity(info: os.stat_result) -> _Identity:
    return (info.st_dev, info.st_ino)


def _target(link: Path) -> str:
    try:
        return os.readlink(link)
    except OSError:
        return "?"


def _how_reached(item: _Item) -> str:
    """The start of a message about a folder or file found a second time."""
    if item.via is None:  # a hard link or a bind mount
        return "this is"
    if item.via == item.path:
        return f"it points at '{_target(item.via)}', which is"
    return f"through the symlink {item.via} -> '{_target(item.via)}', this is"


class _Walk:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.folders: dict[_Identity, Path] = {}  # each folder read, by identity
        self.read: dict[Path, _Identity] = {}  # the same, by the path it was read as
        self.pending: list[_Item] = []
        self.files: list[_Item] = []
        self.problems: list[Problem] = []

    def problem(self, severity: str, path: Path, message: str) -> None:
        self.problems.append(Problem(severity, path, None, None, message))

    def run(self) -> None:
        self.pending.append(_Item(0, "", self.root, _identity(self.root.stat()), None))
        while self.pending:
            self.visit(heapq.heappop(self.pending))

    def visit(self, folder: _Item) -> None:
        if self.refused(folder):
            return
        self.folders[folder.identity] = folder.path
        self.read[folder.path] = folder.identity
        try:
            with os.scandir(folder.path) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            self.problem(ERROR, folder.path, f"cannot read the folder: {exc.strerror or exc}")
            return
        for entry in entries:
            if not entry.name.startswith("."):
                self.add(entry, folder)

    def add(self, entry: os.DirEntry[str], parent: _Item) -> None:
        path = parent.path / entry.name
        link = entry.is_symlink()
        try:
            info = entry.stat()  # the target's, for a symlink
        except OSError as exc:
            self.unreachable(path, link, exc)
            return
        key = path.relative_to(self.root).as_posix()
        via = path if link else parent.via
        item = _Item(parent.links + link, key, path, _identity(info), via)
        if stat.S_ISDIR(info.st_mode):
            heapq.heappush(self.pending, item)
        elif stat.S_ISREG(info.st_mode) and path.suffix.lower() in YAML_SUFFIXES:
            self.files.append(item)

    def refused(self, folder: _Item) -> bool:
        """A loop (error) or a folder already read (warning): reported, not read again."""
        inside = folder.path.relative_to(self.root).parts
        ancestors = [self.root.joinpath(*inside[:depth]) for depth in range(len(inside))]
        loop = [path for path in ancestors if self.read.get(path) == folder.identity]
        earlier = loop[0] if loop else self.folders.get(folder.identity)
        if earlier is None:
            return False
        what = _how_reached(folder)
        if loop:
            self.problem(
                ERROR, folder.path,
                f"symlink loop: {what} the folder {earlier}, and that folder contains the "
                f"link; remove the link or point it at another folder",
            )  # fmt: skip
        else:
            self.problem(
                WARNING, folder.path,
                f"{what} the same folder as {earlier}; its files are read once, from "
                f"there: delete one of the two if it is not needed",
            )  # fmt: skip
        return True

    def unreachable(self, path: Path, link: bool, exc: OSError) -> None:
        is_data = path.suffix.lower() in YAML_SUFFIXES
        if not link:
            message = f"cannot read it: {exc.strerror or exc}"
        elif isinstance(exc, FileNotFoundError):
            message = f"broken symlink: it points at '{_target(path)}', which does not exist"
        else:
            message = f"cannot follow the symlink to '{_target(path)}': {exc.strerror or exc}"
        fix = "fix the link or delete it" if is_data else "skipped (fix it if it held data)"
        self.problem(ERROR if is_data else WARNING, path, f"{message}; {fix}")

    def result(self) -> FolderScan:
        kept: dict[_Identity, _Item] = {}
        for item in sorted(self.files):
            earlier = kept.setdefault(item.identity, item)
            if earlier is not item:
                self.problem(
                    WARNING, item.path,
                    f"{_how_reached(item)} the same file as {earlier.path}; it is read once, "
                    f"from there: delete one of the two if it is not needed",
                )  # fmt: skip
        files = sorted(kept.values(), key=lambda item: item.key)

        def where(problem: Problem) -> str:
            source = problem.source or self.root
            return source.relative_to(self.root).as_posix()

        problems = sorted(self.problems, key=where)
        return FolderScan(tuple(item.path for item in files), tuple(problems))
