#!/usr/bin/env python3
"""Fails the build when a file under src/ includes a header that the layering does not allow.

The layering is declared once, in CMakeLists.txt (clickstream_module, clickstream_headers), and
written by CMake to the file given as the second argument, one tab-separated rule a line:
    module   <name>     <path under src/: a folder, or one file>   <modules it depends on, comma-separated>
    headers  <library>  <paths under src/ that may include it>     <its include prefixes>
A file may include its own module's headers, the headers of the modules its module depends on
directly, any third-party header that no `headers` rule keeps, and a kept one only under a path
its rule lists. A header of ours that may include a kept third-party header, and does (directly
or through headers of its own module), carries that library's rule to whoever includes it:
consume may not include kafka/handle.h, which includes <librdkafka/rdkafka.h>.

Prints one line per violation, `file:line: what (why)`, and exits 1 if there is any.
Only the standard library: this runs before anything is built, and before any venv exists.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

INCLUDE = re.compile(r'^\s*#\s*include(?:_next)?\s*([<"])([^>"]+)[>"]')
CHECKED_SUFFIXES = {".cpp", ".cc", ".h", ".hpp"}


@dataclass
class Module:
    name: str
    path: str  # under src/
    depends: list[str]


@dataclass
class KeptHeaders:
    library: str
    allowed: list[str]  # paths under src/
    prefixes: list[str]


@dataclass
class Include:
    line: int
    spelled: str  # as written, with its <> or ""
    target: str  # a path under src/ for our headers, else the include as written
    ours: bool


@dataclass
class Layering:
    modules: list[Module] = field(default_factory=list)
    kept: list[KeptHeaders] = field(default_factory=list)


def read_layering(path: Path) -> Layering:
    layering = Layering()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        kind, name, where, rest = (line.split("\t") + ["", "", ""])[:4]
        items = [item for item in rest.split(",") if item]
        if kind == "module":
            layering.modules.append(Module(name, where, items))
        elif kind == "headers":
            layering.kept.append(KeptHeaders(name, [p for p in where.split(",") if p], items))
        else:
            sys.exit(f"{path}:{number}: unknown rule {kind!r}")
    return layering


def only_for(kept: KeptHeaders) -> str:
    return f"{kept.library} is only for: {', '.join(kept.allowed) or 'the tests'}"


def allowed(path: str, kept: KeptHeaders) -> bool:
    return any(under(path, allowed) for allowed in kept.allowed)


def under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


class Checker:
    def __init__(self, source_dir: Path, layering: Layering):
        self.src = (source_dir / "src").resolve()
        self.layering = layering
        self.modules = {m.name: m for m in layering.modules}
        self.includes: dict[str, list[Include]] = {}
        self.brought: dict[str, dict[str, str]] = {}  # header -> kept library -> the include that brings it

    def module_of(self, path: str) -> Module | None:
        owners = [m for m in self.layering.modules if under(path, m.path)]
        return max(owners, key=lambda m: len(m.path)) if owners else None

    def kept_library(self, spelled_path: str) -> KeptHeaders | None:
        for kept in self.layering.kept:
            if any(spelled_path.startswith(prefix) for prefix in kept.prefixes):
                return kept
        return None

    def resolve(self, including: Path, delimiter: str, name: str) -> str | None:
        """The path under src/ that the compiler would open, if it is one of ours."""
        candidates = [including.parent / name] if delimiter == '"' else []
        candidates.append(self.src / name)
        for candidate in candidates:
            if candidate.is_file():
                resolved = Path(os.path.normpath(candidate))
                if resolved.is_relative_to(self.src):
                    return resolved.relative_to(self.src).as_posix()
                return None
        return None

    def includes_of(self, path: str) -> list[Include]:
        if path not in self.includes:
            found = []
            file = self.src / path
            for number, line in enumerate(file.read_text(errors="replace").splitlines(), 1):
                match = INCLUDE.match(line)
                if not match:
                    continue
                delimiter, name = match.groups()
                spelled = f"<{name}>" if delimiter == "<" else f'"{name}"'
                ours = self.resolve(file, delimiter, name)
                found.append(Include(number, spelled, ours or name, ours is not None))
            self.includes[path] = found
        return self.includes[path]

    def brought_in(self, header: str, visiting: frozenset[str] = frozenset()) -> dict[str, str]:
        """The kept libraries a header of ours brings in, through its own module's headers."""
        if header in self.brought:
            return self.brought[header]
        brought: dict[str, str] = {}
        owner = self.module_of(header)
        for include in self.includes_of(header):
            if not include.ours:
                kept = self.kept_library(include.target)
                if kept:
                    brought.setdefault(kept.library, include.spelled)
            elif include.target not in visiting and owner and self.module_of(include.target) is owner:
                for library, spelled in self.brought_in(include.target, visiting | {header}).items():
                    brought.setdefault(library, spelled)
        if not visiting:
            self.brought[header] = brought
        return brought

    def check(self, path: str) -> list[str]:
        module = self.module_of(path)
        if module is None:
            return [f"src/{path}: in no module that CMakeLists.txt declares"]
        problems = []
        for include in self.includes_of(path):
            where = f"src/{path}:{include.line}: {module.name} may not include {include.spelled}"
            if not include.ours:
                kept = self.kept_library(include.target)
                if kept and not allowed(path, kept):
                    problems.append(f"{where} ({only_for(kept)})")
                continue
            target = self.module_of(include.target)
            if target is None:
                problems.append(f"{where} (src/{include.target} is in no module that CMakeLists.txt declares)")
                continue
            if target is not module and target.name not in module.depends:
                problems.append(f"{where} ({module.name} depends on: {', '.join(module.depends) or 'nothing'})")
                continue
            for library, spelled in self.brought_in(include.target).items():
                kept = next(k for k in self.layering.kept if k.library == library)
                # A header that may not include the library itself is reported on its own line.
                if allowed(include.target, kept) and not allowed(path, kept):
                    problems.append(f"{where}: it brings in {spelled} ({only_for(kept)})")
        return problems


def checked_files(src: Path) -> list[str]:
    return sorted(p.relative_to(src).as_posix() for p in src.rglob("*")
                  if p.is_file() and p.suffix in CHECKED_SUFFIXES)


def main() -> int:
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} SOURCE_DIR LAYERING_FILE")
    checker = Checker(Path(sys.argv[1]), read_layering(Path(sys.argv[2])))
    problems = [line for path in checked_files(checker.src) for line in checker.check(path)]
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"{len(problems)} break(s) of the layering that CMakeLists.txt declares",
              file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
