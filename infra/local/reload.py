"""Reload the function's code when a file under ``functions/`` changes, keeping the stack's state.

The local stack serves requests through ``Reloader.invoke``. A watcher thread compares the
modification times of ``functions/**/*.py`` twice a second; on a change it drops every
``stripe_webhook`` and ``stripe_actions`` module and imports ``stripe_webhook.app`` and the
consumer kit afresh, so the next request (and, through ``on_reload``, the next batch of each
example action) runs the new code against the same moto state, inbox and queues. Code that fails
to import is reported with its traceback and the previous code keeps serving until it is fixed.

The template is not reloaded: the stack made its queues, the actions' subscriptions and settings
from ``template.yaml`` (and ``infra/modules/``) when it started. A change to them is named with the
restart it needs, so a new action never silently does not run.
"""

from __future__ import annotations

import importlib
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from infra import FUNCTIONS_DIR

PACKAGE = "stripe_webhook"
PACKAGES = (PACKAGE, "stripe_actions", "contract")
INTERVAL_SECONDS = 0.5
TEMPLATE_CHANGED = (
    "-- {changed} changed: the stack made its queues, actions and settings from the template when it"
    " started, so this change is not running. Restart to apply it: Ctrl-C, then make run again"
    " (with --persist, what this run holds is kept)"
)
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _load_handler() -> LambdaHandler:
    for name in [name for name in sys.modules if name.split(".", 1)[0] in PACKAGES]:
        del sys.modules[name]
    app = importlib.import_module(f"{PACKAGE}.app")
    # imported lazily by the functions: check them now
    for module in (f"{PACKAGE}.handlers", "stripe_actions.composition", "stripe_actions.examples"):
        importlib.import_module(module)
    handler: LambdaHandler = app.lambda_handler
    return handler


class Reloader:
    def __init__(self, root: Path = FUNCTIONS_DIR, *, on_reload: Callable[[], None] | None = None) -> None:
        self.root = root
        self._on_reload = on_reload
        self._handler = _load_handler()
        self._stamps = self._snapshot()
        self._templates = self._template_stamps()
        self._stop = threading.Event()

    def invoke(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self._handler(event, context)

    def reconcile(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """The reconciler function's entry point, from the code now serving."""
        reconciler: LambdaHandler = importlib.import_module(f"{PACKAGE}.app").reconcile
        return reconciler(event, context)

    def start(self) -> Reloader:
        threading.Thread(target=self._watch, name="function-reloader", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> bool:
        """Reload if a file changed since the last look (and name a template change, which needs a
        restart); True when new code now serves."""
        templates = self._template_stamps()
        if templates != self._templates:
            changed = _changed(self.root.parent, templates, self._templates)
            self._templates = templates
            print(TEMPLATE_CHANGED.format(changed=", ".join(changed)), flush=True)
        stamps = self._snapshot()
        if stamps == self._stamps:
            return False
        changed = _changed(self.root, stamps, self._stamps)
        self._stamps = stamps
        try:
            handler = _load_handler()
        except Exception:  # a syntax or import error in the edited code: keep serving the old
            print(f"-- reload failed ({', '.join(changed)}); the previous code keeps serving:", flush=True)
            traceback.print_exc()
            return False
        self._handler = handler
        if self._on_reload is not None:
            self._on_reload()
        print(f"-- reloaded the function's code ({', '.join(changed)})", flush=True)
        return True

    def _watch(self) -> None:
        while not self._stop.wait(INTERVAL_SECONDS):
            self.check()

    def _snapshot(self) -> dict[Path, int]:
        return {path: path.stat().st_mtime_ns for path in self.root.rglob("*.py")}

    def _template_stamps(self) -> dict[Path, int]:
        """The template and its modules, beside ``functions/`` in the checkout this stack runs."""
        checkout = self.root.parent
        paths = [checkout / "template.yaml", *(checkout / "infra" / "modules").glob("*.yaml")]
        return {path: path.stat().st_mtime_ns for path in paths if path.exists()}


def _changed(root: Path, now: dict[Path, int], before: dict[Path, int]) -> list[str]:
    return sorted(
        str(path.relative_to(root))
        for path in now.keys() | before.keys()
        if now.get(path) != before.get(path)
    )
