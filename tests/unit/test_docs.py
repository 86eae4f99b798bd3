"""The docs stay true: the README is a front page, links resolve, generated figures match their
generators, and the commands, modules and files they name exist."""

from __future__ import annotations

import re
from pathlib import Path

from infra import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
MAKEFILE = (REPO_ROOT / "Makefile").read_text()
DOCS = REPO_ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
TEXTS = {path: path.read_text() for path in [REPO_ROOT / "README.md", *PAGES]}
ALL_DOCS = "\n".join(TEXTS.values())
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    in_code = False
    found = set()
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (match := re.match(r"#+ (.*)", line)):
            found.add(_anchor(match.group(1)))
    return found


def _module_file(dotted: str) -> Path | None:
    """The file ``python -m dotted`` would run, if there is one."""
    path = REPO_ROOT.joinpath(*dotted.split("."))
    for candidate in (path.with_suffix(".py"), path / "__main__.py", path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def test_the_readme_is_a_front_page_that_links_every_docs_page() -> None:
    assert len(README.splitlines()) <= 300
    assert len(PAGES) >= 9
    linked = {target.split("#", 1)[0] for target in LINK.findall(README)}
    assert {f"docs/{page.name}" for page in PAGES} <= linked


def test_every_link_between_the_pages_reaches_a_file_and_a_heading() -> None:
    broken = []
    for path, text in TEXTS.items():
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            file_part, _, anchor = target.partition("#")
            destination = (path.parent / file_part).resolve() if file_part else path
            if not destination.exists():
                broken.append(f"{path.name}: {target}")
            elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination.read_text()):
                broken.append(f"{path.name}: {target} (no such heading)")
    assert not broken, broken


def test_every_make_target_the_docs_name_exists() -> None:
    targets = set(re.findall(r"^([a-z0-9-]+):", MAKEFILE, flags=re.MULTILINE))
    named = set(re.findall(r"make ([a-z][a-z0-9-]+)", ALL_DOCS))
    assert named <= targets, named - targets


def test_every_infra_module_the_docs_and_makefile_name_exists() -> None:
    named = set(re.findall(r"\binfra(?:\.[a-z_0-9]+)+", ALL_DOCS + MAKEFILE))
    assert named
    missing = sorted(module for module in named if _module_file(module) is None)
    assert not missing, missing


TUTORIAL_CREATES = {
    "functions/stripe_webhook/handlers/prices.py",
    "functions/stripe_webhook/handlers/catalog.py",
    "infra/fixtures/events/price.updated.json",
}
"""What the handler tutorial (docs/handlers.md) has ``make handler`` write; not in the repository."""


def test_every_file_the_docs_name_exists() -> None:
    """A path the docs name (``functions/…``, ``infra/…``, ``tests/…``, ``.ci/…``) is a real file,
    so a renamed or removed module cannot leave its old name behind."""
    named = set(
        re.findall(r"`((?:functions|infra|tests|\.ci)/[\w./-]+\.(?:py|json|yaml|js|css|html))", ALL_DOCS)
    )
    assert named
    missing = sorted(path for path in named - TUTORIAL_CREATES if not (REPO_ROOT / path).exists())
    assert not missing, missing


def test_the_local_stack_options_list_names_every_option_make_run_takes() -> None:
    import argparse

    from infra.local.options import OPTIONS

    page = (DOCS / "local-development.md").read_text()
    listed = page.split("### Options", 1)[1].split("\n### ", 1)[0]
    offered = [flag for flag, options in OPTIONS if options.get("help") is not argparse.SUPPRESS]
    assert [flag for flag in offered if f"`{flag}" not in listed] == []


def module_map() -> dict[str, set[str]]:
    """docs/development.md's map of the code: each top folder's listed files and folders."""
    page = (DOCS / "development.md").read_text()
    block = page.split("## The code", 1)[1].split("```\n", 2)[1]
    listed: dict[str, set[str]] = {}
    top, folders = "", dict[int, str]()
    for line in block.splitlines():
        name = line.split()[0] if line.strip() else ""
        depth = (len(line) - len(line.lstrip())) // 2
        if not name or not (name.endswith((".py", "/"))) or line.startswith(" " * 29):
            continue
        if depth == 0:
            top, folders = name, dict[int, str]()
            listed[top] = set()
            continue
        folders[depth] = name
        listed[top].add("".join(folders[level] for level in range(1, depth)) + name)
    return listed


def test_the_module_map_matches_the_folders_of_the_webhook() -> None:
    """Every folder and module of the webhook is on docs/development.md's map, and only those."""
    for top in ("functions/stripe_webhook/",):
        root = REPO_ROOT / top
        actual = {
            str(path.relative_to(root)) + ("/" if path.is_dir() else "")
            for path in root.rglob("*")
            if (path.suffix == ".py" and path.name != "__init__.py")
            or (path.is_dir() and path.name != "__pycache__")
        }
        listed = module_map()[top]
        # every folder and module, but the handler families: yours join them (listed: the examples)
        families = {name for name in actual if name.startswith("handlers/")}
        assert listed - families == actual - families
        assert {name for name in listed if name.startswith("handlers/")} <= families
