"""docs/handlers.md's tutorial, followed literally on a clean copy of the repository: its code as
the page shows it, `make unit` (every test, not only the new one), then `make trigger` against a
stack running from that copy prints what the page says it prints."""

from __future__ import annotations

import re
from pathlib import Path

from infra import REPO_ROOT
from tests.e2e.conftest import launch, run_tool, stop
from tests.e2e.test_scaffold import copy_of_the_repository, fast_tiers, lint_of


def tutorial_blocks() -> list[str]:
    """The tutorial's code blocks, in order, as a reader copies them (indentation removed)."""
    page = (REPO_ROOT / "docs" / "handlers.md").read_text()
    tutorial = page.split("## Tutorial: your first handler", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", tutorial, flags=re.DOTALL)
    unindented = ["\n".join(line.removeprefix("   ") for line in block.splitlines()) for block in blocks]
    return [block.rstrip() + "\n" for block in unindented]


def test_the_handler_tutorial_works_as_written_from_a_clean_clone(tmp_path: Path) -> None:
    module, variant, test = tutorial_blocks()
    root = copy_of_the_repository(tmp_path)
    handlers = root / "functions" / "stripe_webhook" / "handlers"

    # 2. the module, as the page shows it
    (handlers / "catalog.py").write_text(module)
    # 3. import catalog and add catalog.family to FAMILIES
    init = handlers / "__init__.py"
    text = re.sub(
        r"(from stripe_webhook\.handlers import )billing, ", r"\1billing, catalog, ", init.read_text()
    )
    init.write_text(text.replace("\n)\n", "\n    catalog.family,\n)\n", 1))
    # 4. the payload: one line in VARIANTS
    variants = root / "infra" / "fixtures" / "variants.py"
    opening = "VARIANTS: dict[str, tuple[str, Patch, Patch | None]] = {\n"
    variants.write_text(variants.read_text().replace(opening, opening + "    " + variant.strip() + "\n", 1))
    # 5. its test, then make unit: everything passes, the new test among them
    tests = root / "tests" / "unit" / "test_handlers.py"
    tests.write_text(tests.read_text() + "\n\n" + test)
    assert fast_tiers(root) == {}  # make check's lint, types, complexity and unit tiers

    # 6. with the stack running from the copy, make trigger prints what the page says
    stack = launch(cwd=root)
    try:
        state = {"STRIPE_LOCAL_STATE": str(stack.state_file)}
        sent = run_tool("local.trigger", "product.updated", env=state, cwd=root)
    finally:
        stop(stack)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "200 processed handler=catalog records=1" in sent.stdout
    assert re.search(r"current record OBJECT#prod_\w+: .*name=Coffee Club Plus.*active=True", sent.stdout)

    # and the next type, scaffolded into the tutorial's family list: its output passes make lint
    made = run_tool("local.scaffold", "price.updated", "--root", str(root))
    assert made.returncode == 0, made.stderr
    scaffolded = lint_of(root)
    assert scaffolded.returncode == 0, scaffolded.stdout + scaffolded.stderr
