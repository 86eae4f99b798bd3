"""``make handler TYPE=price.updated``: the files a new event type needs, and the next steps.

One family owns each Stripe object's records (``Family(..., owns=...)``). A type of an object a
family owns goes to that family: into its table of the object's types (``INVOICE_EVENTS``: the
handler already writing the object's record handles it too), or, without one, as a new handler
in its module. A type of an object no family owns gets a family of its own
(``functions/stripe_webhook/handlers/<family>.py``, added to ``FAMILIES``) and a handler that
writes nothing yet. Each gets a payload (the stored fixture; a variant of a sibling type's; or a
minimal correct envelope in ``infra/fixtures/events/``) and a test in
``tests/unit/test_<family>.py``. Nothing is overwritten.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import time
from pathlib import Path

from infra import REPO_ROOT
from infra.cli import Problem, exit_with
from infra.local.scaffold_tables import DEFAULT_RANK, add_variant, extend_table, family_owners
from infra.stripe_types import object_type

ID_PREFIXES = {"price": "price", "product": "prod", "coupon": "co", "tax_rate": "txr", "plan": "plan"}
TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


def family_for(event_type: str) -> str:
    """A family name from the resource: ``price.updated`` → ``prices``."""
    resource = event_type.rsplit(".", 1)[0].replace(".", "_")
    return resource if resource.endswith("s") else f"{resource}s"


def function_name(event_type: str) -> str:
    return event_type.replace(".", "_")


def module_text(family: str, owns: str) -> str:
    return f'''"""{family.capitalize()}: the records this family keeps (scaffolded; describe them here)."""

from __future__ import annotations

from stripe_webhook.core.events import StripeEvent
from stripe_webhook.core.records import Record
from stripe_webhook.core.routing import Family

family = Family("{family}", owns=("{owns}",))
'''


def handler_text(event_type: str) -> str:
    return f'''

@family.handles("{event_type}")
def {function_name(event_type)}(event: StripeEvent) -> list[Record]:
    """The record of the event's object. Until you write it, this returns none and its test fails."""
    # attributes = pick(event.data_object, "active", "currency")  # the fields your product reads
    # return object_record(event, attributes, rank=10)  # import both from stripe_webhook.core.records
    return []
'''


def test_text(event_type: str) -> str:
    return f'''

def test_{function_name(event_type)}_writes_the_object_s_record() -> None:
    event = parse_event(encode(load_event("{event_type}")))
    route = registry().resolve(event.type)
    assert route is not None
    (record,) = route.handler(event)
    assert (record.pk, record.sk) == (f"OBJECT#{{event.object_id}}", "STATE")
'''


TEST_HEADER = '''"""Scaffolded tests: each passes once its handler writes the object's record."""

from __future__ import annotations

from infra.fixtures.payloads import encode, load_event
from stripe_webhook.composition import registry
from stripe_webhook.core.events import parse_event
'''


def envelope(event_type: str) -> dict[str, object]:
    """A minimal, correct event for a type with no stored payload: replace it with a real one."""
    resource = object_type(event_type) or event_type.rsplit(".", 1)[0]
    prefix = ID_PREFIXES.get(resource, resource.split(".")[-1][:4])
    return {
        "id": "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "data": {"object": {"id": f"{prefix}_{secrets.token_hex(7)}", "object": resource, "livemode": False}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


FAMILIES_IMPORT = re.compile(r"from stripe_webhook\.handlers import (\(([^)]*)\)|([^\n(]+))\n")
FAMILIES_TUPLE = re.compile(r"(FAMILIES = \(\n(?:    [^\n]*\n)*)\)")


def line_length(root: Path) -> int:
    """ruff's line length, from the checkout's ``pyproject.toml``."""
    import tomllib

    return int(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["ruff"]["line-length"])


def families_import(names: set[str], width: int) -> str:
    """The handlers' import as ``ruff format`` and its import sorting write it: one line while it
    fits in ``width``, else one name a line."""
    one_line = "from stripe_webhook.handlers import " + ", ".join(sorted(names))
    if len(one_line) <= width:
        return one_line + "\n"
    listed = "".join(f"    {name},\n" for name in sorted(names))
    return f"from stripe_webhook.handlers import (\n{listed})\n"


def add_to_families(init: Path, family: str, width: int) -> bool:
    text = init.read_text()
    if re.search(rf"\b{family}\.family\b", text):
        return False

    def with_family(match: re.Match[str]) -> str:
        names = {name.strip() for name in (match.group(2) or match.group(3)).split(",") if name.strip()}
        return families_import({*names, family}, width)

    text = FAMILIES_IMPORT.sub(with_family, text, count=1)
    text = FAMILIES_TUPLE.sub(lambda match: f"{match.group(1)}    {family}.family,\n)", text, count=1)
    init.write_text(text)
    return True


def scaffold(event_type: str, family: str | None, root: Path = REPO_ROOT) -> tuple[list[str], bool]:
    """Write the files; return what was done, one line each, and whether the type went into its
    owner's table (its handler already writes the record)."""
    if not TYPE_PATTERN.match(event_type):
        raise Problem(f"{event_type!r} is not a Stripe event type (like price.updated)")
    handlers = root / "functions" / "stripe_webhook" / "handlers"
    if any(f'"{event_type}"' in path.read_text() for path in handlers.glob("*.py")):
        raise Problem(f"{event_type} is handled already (see functions/stripe_webhook/handlers/)")
    obj = object_type(event_type) or event_type.rsplit(".", 1)[0]
    owner = family_owners(handlers).get(obj)
    if owner is not None and family not in (None, owner):
        raise Problem(
            f"{obj} records are {owner}'s: a second family writing them would drop its fields"
            f" (leave out FAMILY, or FAMILY={owner})"
        )
    family = owner or family or family_for(event_type)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", family):
        raise Problem(f"{family!r} cannot be a module name")
    module = handlers / f"{family}.py"
    done: list[str] = []
    siblings: list[str] = []
    extended = extend_table(module, obj, event_type) if owner else None
    if extended is not None:
        table, siblings = extended
        done.append(
            f"added {event_type} to {family}'s {table}: its handler, which writes the {obj} record,"
            f" handles it too (rank {DEFAULT_RANK}: choose it, docs/handlers.md#choosing-a-rank)"
        )
    else:
        if not module.exists():
            module.write_text(module_text(family, obj))
            done.append(f"created {module.relative_to(root)} (family {family}: owns the {obj} records)")
        with module.open("a") as handle:
            handle.write(handler_text(event_type))
        done.append(f"added {function_name(event_type)}() to {module.relative_to(root)}")
    if add_to_families(handlers / "__init__.py", family, line_length(root)):
        done.append(f"added {family}.family to FAMILIES in handlers/__init__.py")
    done.append(payload_for(root, event_type, siblings))
    test = root / "tests" / "unit" / f"test_{family}.py"
    if not test.exists():
        test.write_text(TEST_HEADER)
    with test.open("a") as handle:
        handle.write(test_text(event_type))
    done.append(f"added a test to {test.relative_to(root)}")
    return done, extended is not None


def payload_for(root: Path, event_type: str, siblings: list[str]) -> str:
    """The stored payload; else a sibling's, as a variant; else a minimal envelope."""
    stored = root / "infra" / "fixtures" / "events"
    if (stored / f"{event_type}.json").exists() or _is_variant(root, event_type):
        return f"payload: the stored one for {event_type}"
    variants = root / "infra" / "fixtures" / "variants.py"
    bases = [sibling for sibling in siblings if (stored / f"{sibling}.json").exists()]
    if bases:
        add_variant(variants, event_type, bases[0])
        return f"added {event_type} to VARIANTS (infra/fixtures/variants.py): {bases[0]}'s payload, retyped"
    payload = stored / f"{event_type}.json"
    payload.write_text(json.dumps(envelope(event_type), indent=2) + "\n")
    return f"created {payload.relative_to(root)} (a minimal envelope: paste a real event over it)"


def _is_variant(root: Path, event_type: str) -> bool:
    return f'"{event_type}":' in (root / "infra" / "fixtures" / "variants.py").read_text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.scaffold", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("event_type", help="the Stripe event type to handle, e.g. price.updated")
    parser.add_argument("--family", help="the handler family (module) to add it to (default: from the type)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)  # tests: a copy
    args = parser.parse_args(argv)
    done, in_owners_table = scaffold(args.event_type, args.family, args.root)
    print("\n".join(done))
    if in_owners_table:
        print(
            "next: make unit passes as it is (the owner's handler writes the record). Choose the rank,\n"
            "      and check what the record keeps for this type in the new test."
        )
    else:
        print(
            "next: make unit. Four tests fail, each saying the handler wrote no record: the new one, and\n"
            "      the three every handled type passes (one ordered record, the Connect account on it, the\n"
            "      same record on every API version). Write the record in the handler; make unit passes."
        )
    print(f"      Then with `make run` going: make trigger EVENT={args.event_type}, and look in the console")
    return 0


if __name__ == "__main__":
    exit_with(main)
