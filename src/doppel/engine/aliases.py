"""Other addresses of a provider's paths (`x-doppel.aliases`): a request under an item's
alias is served as under its path, and a list under the path may name its pages by the
alias. GitHub serves `/repositories/{id}/issues` as `/repos/{owner}/{repo}/issues`, and
its Link headers name a repository's pages by its id.
"""

from __future__ import annotations

from collections.abc import Iterator

from doppel.engine.compile import CompiledSpec
from doppel.engine.declarations import Alias
from doppel.engine.expressions import MISSING, Env, render, text_of
from doppel.engine.world import View


def served_path(spec: CompiledSpec, view: View, path: str) -> str | None:
    """The path a request under an alias is served as, or None when it is under none."""
    for alias in spec.declarations.aliases:
        found = _moved(view, alias, path, alias.alias, alias.path)
        if found is not None:
            return found
    return None


def linked_path(spec: CompiledSpec, view: View, path: str) -> str:
    """The path a list's pages are named by: its alias, where one is declared with `links`."""
    for alias in spec.declarations.aliases:
        if alias.links:
            found = _moved(view, alias, path, alias.path, alias.alias)
            if found is not None:
                return found
    return path


def _moved(view: View, alias: Alias, path: str, source: object, target: object) -> str | None:
    """`path` with the `source` address of an item of the alias's kind swapped for its
    `target` one (both rendered for that item), or None when no item's `source` holds it."""
    literal = _literal_prefix(source)
    if literal is None or not path.startswith(literal):
        return None
    for env in _items(view, alias.kind):
        own = render(source, env)
        if own is MISSING or not text_of(own):
            continue
        own = text_of(own).rstrip("/")
        if path == own or path.startswith(own + "/"):
            moved = render(target, env)
            if moved is MISSING:
                return None
            return text_of(moved).rstrip("/") + path[len(own) :]
    return None


def _literal_prefix(template: object) -> str | None:
    """What every rendering of the template starts with (before its first placeholder)."""
    if not isinstance(template, str):
        return None
    return template.split("{", 1)[0]


def _items(view: View, kind: str) -> Iterator[Env]:
    """Each stored item of a kind, across its scopes, as `{item}` for templates."""
    for collection in view.collections(kind):
        if collection == kind or collection.startswith(kind + ":"):
            for _, item in view.items(collection):
                if item is not None:
                    yield Env({"item": item})
