"""The world at work: what an operation bound to a resource does, as its template declares
(or as inferred from the spec), read from and written to one request's `View`.

`act` returns an `Answer` (a body value, a status, headers), a `Refusal` (the provider's
not-found, conflict or validation error, rendered by `problems.py`), or None when the world
has nothing to say (no binding, or an open world that does not hold the item) and the
spec's example answers instead. Changes are recorded in the view; nothing is mutated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from doppel.engine.aliases import linked_path
from doppel.engine.auth import credential, presented
from doppel.engine.bodies import answer_value
from doppel.engine.compile import CompiledSpec, Operation
from doppel.engine.context import MockContext
from doppel.engine.declarations import (
    Aggregate,
    Binding,
    Check,
    ErrorKind,
    Kind,
    Lookup,
    Pagination,
    Require,
)
from doppel.engine.expressions import (
    MISSING,
    Env,
    get_path,
    holds,
    iso,
    pluck,
    render,
    same,
    text_of,
)
from doppel.engine.ids import Generators, id_template
from doppel.engine.inputs import request_inputs
from doppel.engine.lists import Entry, Page, apply_filters, paginate, sort_entries
from doppel.engine.model import MockRequest, StateChange
from doppel.engine.negotiate import choose_media_type
from doppel.engine.refs import escape, resolve_pointer
from doppel.engine.resources import inferred_filters, item_param, key_field, timestamp_fields
from doppel.engine.shape import (
    branch_of,
    flat,
    member_schema,
    project,
    shape,
    template_value,
    types,
    unset,
)
from doppel.engine.trees import find_in_tree, levels, pruned
from doppel.engine.validate import fits
from doppel.engine.world import EMPTY_WORLD, SEQUENCES, View, World, collection_id
from doppel.errors import ConfigError, FieldError

_MAX_FALLBACK = 8
_RESERVED_INPUTS = frozenset({"token", "@body"})


@dataclass
class Answer:
    status: int
    body: Any  # a JSON value, or MISSING for no body
    headers: dict[str, str] = field(default_factory=dict)
    read: bool = False  # the body shows stored items
    media: str | None = None
    encoded: bytes | None = None  # the body as sent, once encoded (a remembered read's)


@dataclass
class Refusal:
    kind: ErrorKind
    detail: str
    code: str | None = None
    status: int | None = None
    resource: str | None = None
    field: str | None = None
    errors: tuple[FieldError, ...] = ()
    value: Any = None  # what was sent, for providers that echo it (GitHub's `value`)


class Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.detail)
        self.refusal = refusal


Outcome = Answer | Refusal | None


def act(
    spec: CompiledSpec,
    op: Operation,
    request: MockRequest,
    context: MockContext,
    path_params: Mapping[str, str],
    status_key: str | None,
) -> tuple[Outcome, tuple[StateChange, ...]]:
    """Run the operation's binding (and its references) against the sandbox's world."""
    resources = spec.resources
    binding = resources.bindings.get(op.pointer)
    references = resources.references.get(op.pointer, ())
    if binding is None and not references:
        return None, ()
    memo = _untouched_memo(spec, op, binding, request, context)
    if memo is not None and memo[1] in memo[0]:
        return memo[0][memo[1]], ()
    view = View(context.world, context.state)
    inputs = request_inputs(spec, op, request, path_params)
    turn = _Turn(
        spec, op, binding, request, context, inputs, frozenset(path_params), view, status_key
    )
    try:
        outcome = turn.run(references)
    except Refused as refused:
        return refused.refusal, ()
    if isinstance(outcome, Refusal):
        return outcome, ()
    if memo is not None and not view.changes:
        if len(memo[0]) >= _MEMO_LIMIT:
            memo[0].clear()
        memo[0][memo[1]] = outcome
    return outcome, tuple(view.changes)


def _rememberable(spec: CompiledSpec, op: Operation, binding: Binding) -> str | None:
    """The kind an operation reads, where its answer depends on nothing but the request
    line: no header or cookie inputs, no computed fields (they may read the clock)."""
    key = ("rememberable", op.pointer)
    if key not in spec.cache:
        kind = binding.kind if binding.action in _READS else None
        declared = spec.resources.kinds.get(kind or "")
        if declared is None or declared.computed or declared.views:
            kind = None
        if any(p.location in ("header", "cookie") for p in op.parameters):
            kind = None
        spec.cache[key] = kind
    return spec.cache[key]  # type: ignore[no-any-return]


_MEMO_LIMIT = 10_000
_READS = frozenset({"list", "read", "read_many", "search"})


def _untouched_memo(
    spec: CompiledSpec,
    op: Operation,
    binding: Binding | None,
    request: MockRequest,
    context: MockContext,
) -> tuple[dict[Any, Outcome], Any] | None:
    """Where a read's answer can be remembered, and under what: a sandbox whose world is
    empty and whose state holds nothing of the kind read answers as every such sandbox does
    (the spec's examples, filtered and paged), so a mock of a user's description serves
    repeated reads at the speed of a cached example."""
    if binding is None or context.world or request.body:
        return None
    kind = _rememberable(spec, op, binding)
    if kind is None or any(c == kind or c.startswith(kind + ":") for c in context.state):
        return None
    accept = request.headers.get("accept", "")
    key: tuple[Any, ...] = (op.pointer, request.path, request.query, accept)
    key += (context.closed_world, context.seed, context.now, context.base_url)
    return spec.cache.setdefault("untouched-reads", {}), key


class _Turn:
    """One request's work: its inputs, its environment, its view of the world."""

    op: Operation

    def __init__(
        self,
        spec: CompiledSpec,
        op: Operation | None,
        binding: Binding | None,
        request: MockRequest,
        context: MockContext,
        inputs: dict[str, Any],
        path_names: frozenset[str],
        view: View,
        status_key: str | None,
    ) -> None:
        self.spec = spec
        self.op = op  # type: ignore[assignment]
        self.binding = binding
        self.request = request
        self.context = context
        self.view = view
        self.status_key = status_key
        self.closed = context.closed_world
        self.inputs = inputs
        self.path_names = path_names
        self._related: dict[tuple[str, tuple[str, ...], str, int], tuple[Any, Any]] = {}
        # Checking a world (`check_world`): items are made only as far as anything can
        # refuse them (keys, the items their relations name); nothing is fitted or shown.
        self.checking = False
        at = context.at or context.now
        self.gen = Generators(view, context.seed, at, spec.declarations.sequences)
        self.env = Env(
            {
                "req": self.inputs,
                "me": dict(context.world.me or {}),
                "credential": presented(request),  # `{credential.user}`: Basic's user name
                "anonymous": _anonymous(spec, request, context),
                "now": at,
                "base": spec.upstreams[0] if spec.upstreams else context.base_url,
                "ref": {},
            },
            self.gen,
        )

    # -- the run ----------------------------------------------------------------------------

    def run(self, references: Sequence[Lookup]) -> Outcome:
        for reference in references:
            if render(reference.key, self.env) is MISSING:
                continue  # an optional input not given (a comment's `comment_id`)
            found = self.lookup(reference)
            if found is None:
                if reference.optional:
                    continue
                if self._closed_for(reference.kind) or self._deleted(reference):
                    return self.refusal(reference, reference.key)
                continue
            self._remember(reference, found)
        binding = self.binding
        if binding is None:
            return None
        for name, lookup in binding.references.items():
            if render(lookup.key, self.env) is MISSING:
                continue  # an optional input not given (a reply's thread_ts)
            found = self.lookup(lookup)
            if found is None:
                if not lookup.optional and (lookup.error != "not_found" or self.closed):
                    return self.refusal(lookup, lookup.key)
                continue
            self.env.roots["ref"][name] = self.shown(lookup, found[1])
        if binding.kind is None:
            self._check(binding.requires, None)
            return self.answer(None)
        kind = self.spec.resources.kind(binding.kind)
        handler = getattr(self, f"_{binding.action}")
        result: Outcome = handler(binding, kind)
        return result

    def _remember(self, reference: Lookup, found: tuple[str, Any]) -> None:
        key, item = found
        name = getattr(reference, "name", None) or reference.kind
        self.env.roots["ref"][name] = self.shown(reference, item)
        params: list[str] = getattr(reference, "params", [])
        if len(params) == 1 and params[0] in self.inputs:
            self.inputs[params[0]] = key  # `#general` → C00000001: later steps see the id

    def shown(self, lookup: Lookup, item: Any) -> Any:
        """A referenced item as templates see it: with its computed fields."""
        return self.computed(lookup.kind, item, self.scope_of(lookup.kind, lookup.scope), None)

    def _deleted(self, reference: Lookup) -> bool:
        """Open world: only what this sandbox deleted is known not to exist."""
        collection, key = self._address(reference)
        found, value = self.view.lookup(collection, key)
        return found and value is None

    # -- finding items ----------------------------------------------------------------------

    def scope_of(self, kind_name: str, templates: Mapping[str, Any]) -> tuple[str, ...]:
        kind = self.spec.resources.kind(kind_name)
        values = []
        for var in kind.scope:
            template = templates.get(var, f"{{req.{var}}}")
            options = template if isinstance(template, list) else [template]
            value = MISSING
            for option in options:  # a list: the first that is given
                value = render(option, self.env)
                if value is not MISSING and value is not None and value != "":
                    break
            values.append("" if value is MISSING or value is None else text_of(value))
        return tuple(values)

    def _address(self, lookup: Lookup | Binding) -> tuple[str, str]:
        assert lookup.kind is not None
        scope = self.scope_of(lookup.kind, lookup.scope)
        key = render(lookup.key, self.env) if lookup.key is not None else MISSING
        text = "" if key is MISSING or key is None else text_of(key)
        if lookup.trim:
            text = text.lstrip(lookup.trim)
        return collection_id(lookup.kind, scope), text

    def lookup(self, lookup: Lookup | Binding) -> tuple[str, Any] | None:
        """The item a reference or binding names, as (key, item), or None."""
        assert lookup.kind is not None
        scope = self.scope_of(lookup.kind, lookup.scope)
        _, key = self._address(lookup)
        if not key:
            return None
        found = self.find(lookup.kind, scope, key, lookup.match, lookup.where)
        if found is not None and lookup.where and not holds(lookup.where, found[1], self.env):
            return None
        return found

    def find(
        self,
        kind_name: str,
        scope: tuple[str, ...],
        key: str,
        match: Sequence[str] = (),
        where: Any = None,
    ) -> tuple[str, Any] | None:
        """The item under `key`, else the first whose `match` fields equal it (and that
        satisfies `where`: an open pull request of that head, not the closed one before)."""
        folded = self.spec.resources.kind(kind_name).case_insensitive
        for collection in self.chain(kind_name, scope):
            exists, item = self.view.lookup(collection, key)
            if exists:
                return None if item is None else (key, item)
            if folded:
                other = next(
                    (k for k in self.view.keys(collection) if k.casefold() == key.casefold()),
                    None,
                )
                if other is not None:
                    return other, self.view.get(collection, other)
            for field_path in match:
                for other, candidate in self.view.items(collection):
                    if not any(_same(v, key, folded) for v in pluck(candidate, field_path)):
                        continue
                    if where is None or holds(where, candidate, self.env):
                        return other, candidate
        return None

    def chain(self, kind_name: str, scope: tuple[str, ...]) -> list[str]:
        """The collection, then those it reads through to (a branch, then its base)."""
        kind = self.spec.resources.kind(kind_name)
        chain = [collection_id(kind_name, scope)]
        fallback = kind.fallback
        if fallback is None or fallback.var not in kind.scope:
            return chain
        position = kind.scope.index(fallback.var)
        current = scope
        for _ in range(_MAX_FALLBACK):
            env = self.env.child(scope=dict(zip(kind.scope, current, strict=True)))
            ref_scope = self.scope_of(fallback.kind, {})
            key = render(fallback.key, env)
            if key is MISSING:
                break
            owner = self.view.get(collection_id(fallback.kind, ref_scope), text_of(key))
            base = get_path(owner, fallback.field) if owner is not None else MISSING
            if not isinstance(base, str) or base == current[position]:
                break
            current = (*current[:position], base, *current[position + 1 :])
            chain.append(collection_id(kind_name, current))
        return chain

    def entries(
        self, kind_name: str, scope: tuple[str, ...], *, read_only: bool = False
    ) -> list[Entry]:
        """The live items of a collection and of those it reads through to: copies, unless
        the caller only reads them (`read_only`)."""
        chain = self.chain(kind_name, scope)
        lookup = self.view.peek if read_only else self.view.lookup
        seen: set[str] = set()
        out: list[Entry] = []
        for collection in reversed(chain):  # the base's order first, the branch's own after
            for key in self.view.keys(collection, with_deleted=True):
                if key in seen:
                    continue
                seen.add(key)
                for nearer in chain:
                    exists, item = lookup(nearer, key)
                    if exists:
                        if item is not None:
                            out.append((key, item))
                        break
        return out

    # -- refusals ---------------------------------------------------------------------------

    def refusal(self, lookup: Lookup, key_template: Any) -> Refusal:
        kind = self.spec.resources.kinds.get(lookup.kind)
        key = render(key_template, self.env) if key_template is not None else MISSING
        shown = "" if key is MISSING else text_of(key)
        title = (kind.title if kind else None) or lookup.kind
        detail = f"no {title} {shown!r} in this sandbox"
        if lookup.detail is not None:
            rendered = render(lookup.detail, self.env)
            detail = text_of(rendered) if rendered is not MISSING else lookup.detail
        code = lookup.code or (kind.not_found if kind and lookup.error == "not_found" else None)
        return Refusal(
            lookup.error,
            detail,
            code=code,
            resource=title,
            field=lookup.field,
        )

    def not_found(self, kind_name: str, key: Any) -> Refusal:
        kind = self.spec.resources.kind(kind_name)
        title = kind.title or kind_name
        return Refusal(
            "not_found",
            f"no {title} {text_of(key)!r} in this sandbox",
            code=kind.not_found,
            resource=title,
            value=text_of(key),  # `{value}`: Stripe's "No such customer: 'cus_…'"
        )

    def _check(self, requires: Sequence[Require], item: Any, stage: str = "any") -> None:
        for require in requires:
            if require.during not in ("any", stage):
                continue
            failed = absent = False
            if require.any_of is not None:
                absent = not any(_given(self.inputs.get(n, MISSING)) for n in require.any_of)
                failed = absent
            subject = self.env.roots["ref"].get(require.ref) if require.ref else item
            if require.when is not None and subject is not None:
                failed = failed or not holds(require.when, subject, self.env)
            if require.unless is not None and subject is not None:
                failed = failed or holds(require.unless, subject, self.env)
            if failed:
                names = ", ".join(require.any_of or ())
                detail = require.detail or (f"one of {names} is required" if names else "refused")
                if "{" in detail:
                    filled = render(detail, self.env)
                    detail = text_of(filled) if filled is not MISSING else detail
                field = require.field
                code = require.code or ("missing" if absent else "invalid")  # the field's error
                raise Refused(
                    Refusal(
                        require.error,
                        detail,
                        code=require.code,
                        status=require.status,
                        resource=self._title(),
                        field=field,
                        errors=(FieldError(f"/body/{field}", detail, code),) if field else (),
                    )
                )

    def _title(self) -> str | None:
        if self.binding is None or self.binding.kind is None:
            return None
        kind = self.spec.resources.kind(self.binding.kind)
        return kind.title or self.binding.kind

    # -- items as shown ---------------------------------------------------------------------

    def computed(self, kind_name: str, item: Any, scope: tuple[str, ...], view: str | None) -> Any:
        kind = self.spec.resources.kind(kind_name)
        extra = {**kind.computed, **(kind.views.get(view, {}) if view else {})}
        if not extra or not isinstance(item, dict):
            return item
        out = dict(item)
        # Each computed field sees those before it (`@repo`, then `head.repo: "{item.@repo}"`).
        env = self.env.child(item=out, scope=dict(zip(kind.scope, scope, strict=False)))
        for name, spec in extra.items():
            if isinstance(spec, Aggregate):
                value = self._aggregate(spec, env)
            elif isinstance(spec, Check):
                value = holds(spec.holds, item, env)
            elif isinstance(spec, Mapping) and "@when" in spec:
                if not holds(spec["@when"], out, env):
                    continue  # the condition does not hold: the stored value stands
                if "@value" in spec:
                    value = render(spec["@value"], env)
                else:
                    value = render({k: v for k, v in spec.items() if k != "@when"}, env)
            else:
                value = render(spec, env)
            if value is MISSING:
                out.pop(name, None)
            else:
                out[name] = value
        return out

    def related(self, kind_name: str, found: Entry, scope: tuple[str, ...], target: Any) -> Any:
        """An item as a relation to it shows it (a label, the user who opened an issue). The
        same item is worked out once per request where what it shows depends on nothing but
        itself: a world names one user from a hundred items."""
        key, item = found
        if not _self_contained(self.spec, kind_name):
            return project(self.spec, target, self.computed(kind_name, item, scope, None))
        address = (kind_name, scope, key, id(target))
        hit = self._related.get(address)
        if hit is None or hit[0] != item:
            shown = project(self.spec, target, self.computed(kind_name, item, scope, None))
            hit = self._related[address] = (item, shown)
        return _plain(hit[1])  # a copy of its own: whoever stores it may change it

    def _aggregate(self, spec: Aggregate, env: Env) -> Any:
        saved = self.env
        self.env = env
        try:
            scope = self.scope_of(spec.of, spec.scope)
        finally:
            self.env = saved
        related = [item for _, item in self.entries(spec.of, scope, read_only=True)]
        related = [r for r in related if holds(spec.where, r, env)]
        if spec.count:
            value: Any = len(related)
            empty = value == 0
        elif spec.first:
            value = _plain(related[0]) if related else None  # shown: a copy of its own
            if value is not None:
                value = self.computed(spec.of, value, self.scope_of(spec.of, spec.scope), None)
            empty = value is None
        elif spec.distinct is not None:
            value = _plain(list(dict.fromkeys(v for r in related for v in pluck(r, spec.distinct))))
            empty = not value
        elif spec.sum is not None:
            value = sum(
                v for r in related for v in pluck(r, spec.sum) if isinstance(v, int | float)
            )
            empty = value == 0
        else:
            assert spec.max is not None
            values = [v for r in related for v in pluck(r, spec.max)]
            value = _plain(max(values, key=_order_key)) if values else None
            empty = value is None
        return MISSING if empty and spec.omit_empty else value

    # -- shaping what is written --------------------------------------------------------------

    def kind_schema(self, kind_name: str) -> Any:
        key = ("kind-schema", kind_name)
        found = self.spec.cache.get(key)
        if found is None:
            pointer = self.spec.resources.schemas.get(kind_name, "")
            found = resolve_pointer(self.spec.document, "#" + pointer) if pointer else {}
            self.spec.cache[key] = found
        return found

    def written(self, binding: Binding, kind_name: str) -> dict[str, Any]:
        """The fields this request writes: its inputs (not the path's), then `set`."""
        fields: dict[str, Any] = {}
        if binding.inputs:
            fields.update(
                {
                    k: v
                    for k, v in self.inputs.items()
                    if k not in self.path_names and k not in _RESERVED_INPUTS
                }
            )
        fields.update(_rendered(binding.set, self.env))
        return fields

    def shaped(
        self,
        kind_name: str,
        fields: Mapping[str, Any],
        scope: tuple[str, ...],
        item: Any = None,
    ) -> dict[str, Any]:
        """Fields written to `item`, each fitted to its member's schema (relations expand,
        form strings take their types); a field that cannot fit is left out, one the schema
        does not know is kept (never shown). Of a `oneOf` schema, the whole item (`item`
        with the fields over it) is fitted to its one branch (a `type: FRAME` node's type
        is a FrameNode's); a member that branch lacks, to the first branch declaring it."""
        schema = self.kind_schema(kind_name)
        if not schema:
            return dict(fields)
        relate = _Relations(self, kind_name, scope)
        if self.checking:  # only relations can refuse: they name items the world may lack
            for name in relate.kind.relations.keys() & fields.keys():
                relate(name, {}, fields[name])
            return {name: _plain(value) for name, value in fields.items()}
        whole = {**(item if isinstance(item, dict) else {}), **fields}
        branch = branch_of(self.spec, schema, whole)
        out: dict[str, Any] = {}
        for name, value in fields.items():
            if name.startswith("@"):
                out[name] = _plain(value)
                continue
            found = member_schema(self.spec, schema, name, branch)
            if found is None:
                out[name] = _plain(value)  # kept, never shown: still JSON
                continue
            member, sub = found
            shaped = relate(member, sub, value)
            if shaped is MISSING:
                shaped = shape(self.spec, sub, value)
            if shaped is not MISSING:
                out[member] = shaped
        return out

    def transitions(
        self, kind_name: str, item: dict[str, Any], prev: Any, scope: tuple[str, ...]
    ) -> dict[str, Any]:
        kind = self.spec.resources.kind(kind_name)
        for transition in kind.transitions:
            env = self.env.child(item=item, prev=prev if prev is not None else {})
            if not holds(transition.when, item, env):
                continue
            if transition.was is not None and (
                prev is None or not holds(transition.was, prev, env)
            ):
                continue
            item = self.with_set(kind_name, item, transition.set, env, scope)
        return item

    def with_set(
        self,
        kind_name: str,
        item: dict[str, Any],
        templates: Mapping[str, Any],
        env: Env,
        scope: tuple[str, ...],
    ) -> dict[str, Any]:
        """`item` with `templates` rendered, fitted to the kind's schema, and merged in."""
        rendered = _rendered(templates, env)
        return {**item, **self.shaped(kind_name, rendered, scope, item)} if rendered else item

    def effects(self, binding: Binding, item: Any, prev: Any, scope: tuple[str, ...] = ()) -> None:
        names = self.spec.resources.kind(binding.kind).scope if binding.kind else []
        for effect in binding.effects:
            env = self.env.child(
                item=item,
                prev=prev if prev is not None else {},
                scope=dict(zip(names, scope, strict=False)),
            )
            if effect.when is not None and not holds(effect.when, {}, env):
                continue
            saved, self.env = self.env, env
            try:
                self._effect(effect)
            finally:
                self.env = saved

    def _effect(self, effect: Any) -> None:
        scope = self.scope_of(effect.kind, effect.scope)
        collection = collection_id(effect.kind, scope)
        if effect.action == "copy":
            target = collection_id(effect.kind, self.scope_of(effect.kind, effect.to))
            for key, item in self.view.items(collection):
                self.view.put(target, key, item)
            return
        key_value = render(effect.key, self.env)
        if key_value is MISSING:
            return
        key = text_of(key_value)
        if effect.action == "delete":
            self.view.delete(collection, key)
            return
        current = self.find(effect.kind, scope, key)
        if (effect.action == "update") is (current is None):
            return  # update only what exists; create only what does not
        fields = _rendered(effect.set, self.env)
        base = current[1] if current is not None else {}
        kind = self.spec.resources.kind(effect.kind)
        if effect.action == "create" and current is None:
            base = self._blank(effect.kind, kind, scope, fields)
        merged = _merge(base, self.shaped(effect.kind, fields, scope, base))
        self.view.put(collection, key, merged)

    def _blank(
        self, kind_name: str, kind: Kind, scope: tuple[str, ...], fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A new item's starting point: the schema's template value, then the kind's
        `create` templates for what the inputs do not give, each seeing what came before."""
        schema = self.kind_schema(kind_name)
        template = template_value(self.spec, schema)
        item: dict[str, Any]
        if self._infers(kind_name):
            # An inferred create answers the item itself: its required members start as
            # that answer has them (the spec's example where it fits, else data that
            # validates); what may be null is null until something is sent.
            answered = self._template_answer() if self.op is not None else None
            item = unset(self.spec, schema, answered if isinstance(answered, dict) else template)
        else:
            # A declared kind starts from what its schema requires; the rest is the
            # template's to give (an example's optional members would be plausible lies).
            required = set(flat(self.spec, schema).get("required") or ())
            given = template if isinstance(template, dict) else {}
            item = {k: v for k, v in given.items() if k in required}
        given = dict(fields)
        gen = self.gen.for_collection(collection_id(kind_name, scope))
        env = Env({**self.env.roots, "scope": dict(zip(kind.scope, scope, strict=False))}, gen)
        current = {**item, **given}  # what each template sees: all that came before it
        seen = env.child(item=current)
        for name, template_ in self._create_templates(kind_name, kind).items():
            if name in given:
                continue
            value = render(template_, seen)
            if value is not MISSING:
                given[name] = current[name] = value
        key_name = self._key_field(kind_name, kind)
        if key_name not in given and kind_name in self.spec.declarations.resources:
            # A key the schema's placeholder would fill is no key: nothing may be stored
            # under `full_name-7332`.
            raise Refused(Refusal("refused", f"nothing gives the new {kind_name} its {key_name}"))
        return {**item, **self.shaped(kind_name, given, scope, item)}

    def _create_templates(self, kind_name: str, kind: Kind) -> Mapping[str, Any]:
        if not self._infers(kind_name) or self.spec.resources.schemas.get(kind_name) is None:
            return kind.create
        return {**_inferred_create(self, kind_name, kind), **kind.create}

    def _infers(self, kind_name: str) -> bool:
        """Whether a kind takes the spec's conventions (ids, timestamps, filters): inferred
        ones, and declared ones that refine an inferred collection (`path`)."""
        declared = self.spec.declarations.resources.get(kind_name)
        return declared is None or declared.path is not None

    # -- actions ----------------------------------------------------------------------------

    def _read(self, binding: Binding, kind: Kind) -> Outcome:
        assert binding.kind is not None
        scope = self.scope_of(binding.kind, binding.scope)
        found = self.lookup(binding)
        if found is None:
            return self._miss(binding)
        self._check(binding.requires, found[1])
        return self.answer(self.computed(binding.kind, found[1], scope, binding.view), read=True)

    def _miss(self, binding: Binding) -> Outcome:
        assert binding.kind is not None
        collection, key = self._address(binding)
        exists, _ = self.view.lookup(collection, key)
        if exists or self._closed_for(binding.kind):
            return self.not_found(binding.kind, key)
        return None  # open world: the spec's example answers

    def _closed_for(self, kind_name: str) -> bool:
        """Whether an unknown item of this kind is a not-found here. A declared kind: in a
        closed world, always (the template knows its provider). An inferred one: only
        where the operation declares the not-found (a description that says an operation
        cannot answer 404 is taken at its word; its example answers)."""
        if not self.closed:
            return False
        if kind_name in self.spec.declarations.resources:
            return True
        return any(k in self.op.responses for k in ("404", "4XX"))

    def _read_many(self, binding: Binding, kind: Kind) -> Outcome:
        assert binding.kind is not None
        scope = self.scope_of(binding.kind, binding.scope)
        wanted = render(binding.keys, self.env)
        keys = wanted if isinstance(wanted, list) else [] if wanted is MISSING else [wanted]
        found: dict[str, Any] = {}
        for key in map(text_of, keys):
            hit = self._found_in_tree(binding, kind, scope, key)
            if hit is None:
                found[key] = None
                continue
            item = self.computed(binding.kind, hit[1], scope, binding.view)
            found[key] = render(binding.wrap, self.env.child(item=item)) if binding.wrap else item
        return self.answer(found, read=True, raw=True)

    def _found_in_tree(
        self, binding: Binding, kind: Kind, scope: tuple[str, ...], key: str
    ) -> tuple[str, Any] | None:
        """read_many's item for a key: from the kind's collection, or (with `among` or
        `nested`) from a tree at any depth, shown to `depth` levels below it."""
        assert binding.kind is not None
        if binding.among is None and binding.nested is None:
            return self.find(binding.kind, scope, key, binding.match)
        if binding.among is not None:
            roots = render(binding.among, self.env)
        else:
            roots = [item for _, item in self.entries(binding.kind, scope)]
        fields = [self._key_field(binding.kind, kind), *binding.match]
        node = find_in_tree(roots, binding.nested, fields, key)
        if node is None:
            return None
        depth = levels(render(binding.depth, self.env))
        if binding.nested is not None and depth is not None:
            node = pruned(node, binding.nested, depth)
        return key, node

    def _list(self, binding: Binding, kind: Kind) -> Outcome:
        assert binding.kind is not None
        self._check(binding.requires, None)
        scope = self.scope_of(binding.kind, binding.scope)
        entries = self.entries(binding.kind, scope)
        if not self.closed:
            entries = self._with_examples(binding, entries)
        return self.listed(binding, kind, entries, scope)

    def listed(
        self,
        binding: Binding,
        kind: Kind,
        entries: list[Entry],
        scope: tuple[str, ...] | None,
    ) -> Outcome:
        """Filter, sort and page entries (computed here unless `scope` is None: already)."""
        assert binding.kind is not None
        # Computed first: filters and sorts may use them (`comments`, Slack's `is_member`).
        if scope is not None:
            entries = [(k, self.computed(binding.kind, v, scope, binding.view)) for k, v in entries]
        if binding.where is not None:
            entries = [e for e in entries if holds(binding.where, e[1], self.env)]
        filters: Mapping[str, Any] | None = binding.filters
        if filters is None:  # a search's query is its filter: the list's defaults stay out
            filters = {} if binding.action == "search" else self._filters(kind, binding)
        entries = apply_filters(filters, entries, self.inputs, self.env)
        entries = sort_entries(
            entries, binding.sort or kind.sort, binding.order or kind.order, self.inputs
        )
        page = paginate(
            self._pagination(binding, kind),
            entries,
            self.inputs,
            linked_path(self.spec, self.view, self.request.path),
            self.request.query,
            self.context.base_url,
        )
        if page.error is not None:
            detail = f"the list cannot be paged: {page.error}"
            if " " not in page.error:  # the provider's own code (Slack's invalid_cursor)
                return Refusal("refused", detail, code=page.error)
            return Refusal("invalid_request", detail)
        items = [item for _, item in page.entries]
        if binding.wrap is not None:  # each item's entry (Slack's members: user ids)
            items = [render(binding.wrap, self.env.child(item=item)) for item in items]
        return self.answer(items, many=True, page=page, read=True, total=len(entries))

    def _filters(self, kind: Kind, binding: Binding) -> Mapping[str, Any]:
        assert binding.kind is not None
        if kind.filters or not self._infers(binding.kind):
            return kind.filters
        key = ("inferred-filters", self.op.pointer)
        cached = self.spec.cache.get(key)
        if cached is None:
            assert binding.kind is not None
            schema = flat(self.spec, self.kind_schema(binding.kind))
            cached = self.spec.cache[key] = inferred_filters(self.op, schema)
        return cached

    def _pagination(self, binding: Binding, kind: Kind) -> Pagination | None:
        name = binding.pagination or kind.pagination or "default"
        return self.spec.resources.pagination.get(name)

    def _with_examples(self, binding: Binding, entries: list[Entry]) -> list[Entry]:
        """Open world: the spec's example items follow what the sandbox holds (Prism's answer,
        with this sandbox's changes in it)."""
        assert binding.kind is not None
        base = self._template_answer()
        envelope = binding.envelope or _array_member(base)
        examples = base if envelope is None else get_path(base, envelope)
        if not isinstance(examples, list):
            return entries
        kind = self.spec.resources.kind(binding.kind)
        field_name = self._key_field(binding.kind, kind)
        held = {k for k, _ in entries}
        scope = self.scope_of(binding.kind, binding.scope)
        gone = {
            k
            for c in self.chain(binding.kind, scope)
            for k, v in self.view.state_items(c)
            if v is None
        }
        added: list[Entry] = []
        for example in examples:
            key = text_of(example.get(field_name)) if isinstance(example, dict) else ""
            if key and (key in held or key in gone):
                continue
            added.append((key or f"example-{len(entries) + len(added)}", example))
        if (binding.order or kind.order) == "desc":
            # Listed newest first, what the sandbox made stays ahead of the spec's examples.
            return [*reversed(added), *entries]
        return [*entries, *added]

    def _key_field(self, kind_name: str, kind: Kind) -> str:
        """The item field holding the key: as declared, or for an inferred kind the field
        its item parameter names (`petId` → `id`)."""
        if kind_name in self.spec.declarations.resources:
            return kind.key
        schema = flat(self.spec, self.kind_schema(kind_name))
        props = schema.get("properties") or {}
        if kind.key in props or not props:
            return kind.key
        return key_field(kind.key, props) or kind.key

    def _create(self, binding: Binding, kind: Kind) -> Outcome:
        assert binding.kind is not None
        scope = self.scope_of(binding.kind, binding.scope)
        self._check(binding.requires, None, "create")
        fields = self.written(binding, binding.kind)
        item = self._blank(binding.kind, kind, scope, fields)
        item = self.transitions(binding.kind, item, None, scope)
        key_name = self._key_field(binding.kind, kind)
        key = item.get(key_name)
        if key is None or key is MISSING:
            return None
        collection = collection_id(binding.kind, scope)
        taken = self._taken(binding.kind, kind, scope, item, None)
        if taken is not None:
            return taken
        if self.view.exists(collection, text_of(key)) or (
            kind.case_insensitive and self.find(binding.kind, scope, text_of(key)) is not None
        ):
            # A key the client chose that is taken is a conflict, as the provider says;
            # one a template made up is made again.
            if binding.conflict is not None or kind.unique or key_name in fields:
                return Refusal(
                    "conflict",
                    f"{kind.title or binding.kind} {text_of(key)!r} already exists",
                    code=binding.conflict,
                    resource=kind.title or binding.kind,
                    field=key_name,
                )
            key = self._rekey(binding.kind, scope, item, key_name)
        self.view.put(collection, text_of(key), item)
        self.effects(binding, item, None, scope)
        shown = self.computed(binding.kind, item, scope, binding.view)
        return self.answer(shown, read=True)

    def _taken(
        self,
        kind_name: str,
        kind: Kind,
        scope: tuple[str, ...],
        item: Mapping[str, Any],
        own_key: str | None,
    ) -> Refusal | None:
        """A conflict when a field the kind keeps unique (Slack's channel names) is taken by
        another item."""
        for unique_field, code in kind.unique.items():
            value = item.get(unique_field)
            if value is None:
                continue
            folded = kind.case_insensitive
            for key, other in self.entries(kind_name, scope, read_only=True):
                if key != own_key and any(
                    _same(v, value, folded) for v in pluck(other, unique_field)
                ):
                    return Refusal(
                        "conflict",
                        f"{unique_field} {text_of(value)!r} is already taken",
                        code=code,
                        resource=kind.title or kind_name,
                        field=unique_field,
                    )
        return None

    def _rekey(
        self, kind_name: str, scope: tuple[str, ...], item: dict[str, Any], name: str
    ) -> Any:
        """A key the sandbox already holds (an inferred create whose answer reused the
        example's): a new one in the key's own format where the kind knows it."""
        gen = self.gen.for_collection(collection_id(kind_name, scope))
        old = item[name]
        template = self._create_templates(kind_name, self.spec.resources.kind(kind_name))
        made = render(template[name], Env(self.env.roots, gen)) if name in template else MISSING
        taken = made is MISSING or self.view.exists(collection_id(kind_name, scope), text_of(made))
        new: Any = made
        if taken:
            new = gen.next_number() if isinstance(old, int) else f"{old}-{gen.next_number('rekey')}"
        item[name] = new
        suffix = f"/{old}"
        for member, value in list(item.items()):
            if member != name and isinstance(value, str) and value.endswith(suffix):
                item[member] = value[: -len(suffix)] + f"/{new}"
        return new

    def _update(self, binding: Binding, kind: Kind) -> Outcome:
        assert binding.kind is not None
        scope = self.scope_of(binding.kind, binding.scope)
        found = self.lookup(binding)
        if found is None:
            missed = self._miss(binding)
            if missed is not None:
                return missed
            current = self._template_answer()
            if not isinstance(current, dict):
                return None
            _, key = self._address(binding)
            current = {**current, **self._key_echo(binding, kind, key)}
        else:
            key, current = found
        self._check(binding.requires, current, "update")
        fields = self.written(binding, binding.kind)
        key_name = self._key_field(binding.kind, kind)
        fields.pop(key_name, None)
        fields.pop("id", None)
        changed = _merge(current, self.shaped(binding.kind, fields, scope, current))
        changed = self._stamped(binding.kind, kind, changed, scope)
        changed = self.transitions(binding.kind, changed, current, scope)
        taken = self._taken(binding.kind, kind, scope, changed, key)
        if taken is not None:
            return taken
        self.view.put(collection_id(binding.kind, scope), key, changed)
        self.effects(binding, changed, current, scope)
        return self.answer(self.computed(binding.kind, changed, scope, binding.view), read=True)

    def _upsert(self, binding: Binding, kind: Kind) -> Outcome:
        """Update the item when it exists (the operation's 200), else create it (201)."""
        assert binding.kind is not None
        if self.lookup(binding) is None:
            self._check(binding.requires, None, "create")
            outcome = self._create(binding.model_copy(update={"requires": []}), kind)
            if isinstance(outcome, Answer) and "201" in self.op.responses:
                outcome.status = 201
            return outcome
        found = self.lookup(binding)
        assert found is not None
        self._check(binding.requires, found[1], "update")
        return self._update(binding.model_copy(update={"requires": []}), kind)

    def _key_echo(self, binding: Binding, kind: Kind, key: str) -> dict[str, Any]:
        """The key the request named, in the item's key field: only where it fits that
        field's schema (an id that breaks the pattern is not echoed into an answer)."""
        assert binding.kind is not None
        name = self._key_field(binding.kind, kind)
        value = render(binding.key, self.env)
        value = key if value is MISSING else value
        found = member_schema(self.spec, self.kind_schema(binding.kind), name)
        if found is not None:
            value = shape(self.spec, found[1], value)
            if value is MISSING or not fits(self.spec, found[1], value):
                return {}
        return {name: value}

    def _stamped(
        self, kind_name: str, kind: Kind, item: dict[str, Any], scope: tuple[str, ...]
    ) -> dict[str, Any]:
        templates: Mapping[str, Any] = kind.update
        if self._infers(kind_name):
            _, updated = timestamp_fields(
                flat(self.spec, self.kind_schema(kind_name)).get("properties") or {}
            )
            templates = {**{name: "{now}" for name in updated}, **kind.update}
        if not templates:
            return item
        env = self.env.child(item=item, scope=dict(zip(kind.scope, scope, strict=False)))
        return _merge(item, self.shaped(kind_name, _rendered(templates, env), scope, item))

    def _delete(self, binding: Binding, kind: Kind) -> Outcome:
        assert binding.kind is not None
        scope = self.scope_of(binding.kind, binding.scope)
        found = self.lookup(binding)
        collection, key = self._address(binding)
        if found is None:
            exists, _ = self.view.lookup(collection, key)
            if exists or self._closed_for(binding.kind):
                return self.not_found(binding.kind, key)
            item: Any = None
        else:
            key, item = found
            self._check(binding.requires, item)
        self.view.delete(collection, key)
        self.effects(binding, item, item, scope)
        echo = self._key_echo(binding, kind, key)
        return self.answer(echo if item is None else item, result="none", echo=echo)

    def _field_items(self, binding: Binding, kind: Kind) -> tuple[str, Any, tuple[str, ...]]:
        assert binding.kind is not None
        scope = self.scope_of(binding.kind, binding.scope)
        found = self.lookup(binding)
        if found is None:
            _, key = self._address(binding)
            raise Refused(self.not_found(binding.kind, key))
        self._check(binding.requires, found[1])
        return found[0], found[1], scope

    def _values(self, binding: Binding, kind: Kind, item: Any, scope: tuple[str, ...]) -> list[Any]:
        assert binding.field is not None and binding.kind is not None
        raw = (
            render(binding.value, self.env.child(item=item))
            if binding.value is not None
            else self.inputs.get(binding.field, MISSING)
        )
        if raw is MISSING:
            raw = self.inputs.get("@body", MISSING)  # a JSON array sent as the whole body
        if raw is MISSING or raw is None:
            return []
        values = raw if isinstance(raw, list) else [raw]
        relate = _Relations(self, binding.kind, scope, skip_missing=binding.missing == "skip")
        schema = flat(self.spec, self.kind_schema(binding.kind))
        member = (schema.get("properties") or {}).get(binding.field)
        related = relate(binding.field, member or {}, values)
        if related is not MISSING:
            return list(related)
        items = flat(self.spec, member or {}).get("items")
        if items is None:
            return values
        shaped = [shape(self.spec, items, v) for v in values]
        return [v for v in shaped if v is not MISSING]

    def _append(self, binding: Binding, kind: Kind) -> Outcome:
        key, item, scope = self._field_items(binding, kind)
        assert binding.field is not None and binding.kind is not None
        current = list(get_path(item, binding.field) or [])
        if binding.group is not None:
            current = self._grouped(binding, current, adding=True)
        else:
            for value in self._values(binding, kind, item, scope):
                if not any(self._same_entry(binding, kind, value, old) for old in current):
                    current.append(value)
        return self._save_field(binding, kind, key, item, scope, current)

    def _remove(self, binding: Binding, kind: Kind) -> Outcome:
        key, item, scope = self._field_items(binding, kind)
        assert binding.field is not None and binding.kind is not None
        current = list(get_path(item, binding.field) or [])
        if binding.group is not None:
            current = self._grouped(binding, current, adding=False)
        else:
            wanted = self._values(binding, kind, item, scope)
            kept = [
                old
                for old in current
                if not any(self._same_entry(binding, kind, w, old) for w in wanted)
            ]
            if len(kept) == len(current) and wanted and binding.missing == "error":
                relation = kind.relations.get(binding.field)
                title = (
                    self.spec.resources.kind(relation.kind).title if relation else None
                ) or binding.field
                return Refusal(
                    "not_found",
                    f"{title} is not on this {kind.title or binding.kind}",
                    resource=title,
                )
            current = kept
        return self._save_field(binding, kind, key, item, scope, current)

    def _clear(self, binding: Binding, kind: Kind) -> Outcome:
        key, item, scope = self._field_items(binding, kind)
        return self._save_field(binding, kind, key, item, scope, [])

    def _replace(self, binding: Binding, kind: Kind) -> Outcome:
        key, item, scope = self._field_items(binding, kind)
        values = self._values(binding, kind, item, scope)
        return self._save_field(binding, kind, key, item, scope, values)

    def _same_entry(self, binding: Binding, kind: Kind, a: Any, b: Any) -> bool:
        relation = kind.relations.get(binding.field or "")
        by = binding.by or (relation.by if relation else None)
        if by is not None and isinstance(a, dict) and isinstance(b, dict):
            return same(a.get(by), b.get(by))
        if by is not None and isinstance(b, dict) and not isinstance(a, dict):
            return same(a, b.get(by))
        return bool(a == b)

    def _grouped(self, binding: Binding, current: list[Any], *, adding: bool) -> list[Any]:
        group = binding.group
        assert group is not None
        name, member = render(group.name, self.env), render(group.member, self.env)
        entry = next(
            (e for e in current if isinstance(e, dict) and same(e.get(group.by), name)), None
        )
        members = list(entry.get(group.members) or []) if entry else []
        if adding:
            if member in members:
                raise Refused(Refusal("conflict", "already there", code=group.exists))
            members.append(member)
        else:
            if member not in members:
                raise Refused(Refusal("not_found", "not there", code=group.absent))
            members.remove(member)
        out = [e for e in current if e is not entry]
        if members:
            updated = {**(entry or {}), group.by: name, group.members: members}
            if group.count:
                updated[group.count] = len(members)
            position = current.index(entry) if entry in current else len(out)
            out.insert(position, updated)
        return out

    def _save_field(
        self,
        binding: Binding,
        kind: Kind,
        key: str,
        item: Any,
        scope: tuple[str, ...],
        values: list[Any],
    ) -> Outcome:
        assert binding.field is not None and binding.kind is not None
        changed = {**item, binding.field: values}
        changed = self.with_set(
            binding.kind, changed, binding.set, self.env.child(item=changed), scope
        )
        changed = self._stamped(binding.kind, kind, changed, scope)
        changed = self.transitions(binding.kind, changed, item, scope)
        self.view.put(collection_id(binding.kind, scope), key, changed)
        self.effects(binding, changed, item, scope)
        shown = self.computed(binding.kind, changed, scope, binding.view)
        return self.answer(shown, read=True, field_name=binding.field)

    def _search(self, binding: Binding, kind: Kind) -> Outcome:
        from doppel.engine.search import search_entries

        assert binding.kind is not None and binding.search is not None
        self._check(binding.requires, None)
        entries = search_entries(self, binding.kind, kind, binding.search, binding.view)
        return self.listed(binding, kind, entries, None)

    # -- answers ----------------------------------------------------------------------------

    def _success(self) -> tuple[str | None, int, str | None, Any]:
        """The declared success answer: (response key, status, media type, schema)."""
        binding = self.binding
        responses = self.op.responses
        if binding is not None and binding.status is not None:
            key = str(binding.status) if str(binding.status) in responses else self.status_key
        else:
            key = self.status_key
        if key is None:
            status = binding.status if binding and binding.status else 200
            return None, status, None, None
        status = binding.status if binding and binding.status else _status_number(key)
        content = responses[key].get("content") or {}
        media = choose_media_type(content, "application/json") if content else None
        schema = None
        if media is not None and "schema" in (content[media] or {}):
            pointer = f"{self.op.response_pointers[key]}/content/{escape(media)}/schema"
            schema = resolve_pointer(self.spec.document, "#" + pointer)
        return key, status, media, schema

    def _template_answer(self) -> Any:
        key, _, media, _ = self._success()
        if key is None or media is None:
            return None
        return answer_value(self.spec, self.context, self.op, key, media)

    def answer(
        self,
        value: Any,
        *,
        many: bool = False,
        page: Page | None = None,
        read: bool = False,
        raw: bool = False,
        result: str | None = None,
        field_name: str | None = None,
        echo: Mapping[str, Any] | None = None,
        total: int | None = None,
    ) -> Answer:
        binding = self.binding
        _, status, media, schema = self._success()
        headers = dict(page.headers) if page else {}
        if media is None or status in (204, 304):
            return Answer(status, MISSING, headers, read)
        result = (binding.result if binding else None) or result
        if field_name is None and binding is not None and binding.field and result != "none":
            field_name = binding.field
        env = self.env.child(item=value if not many else {}, items=value if many else [])
        body: Any
        placed = ""  # where the item sits, shown already as the operation declares it
        envelope = binding.envelope if binding else None
        if binding is not None and binding.kind is not None and envelope is None:
            envelope = self.spec.resources.kind(binding.kind).envelope
        if envelope is None and many and schema is not None:
            envelope = _list_member(self.spec, schema)
        if result == "none" or (value is None and not many):
            body = _copy(self._template_answer())
            if echo and isinstance(body, dict):
                body = {**body, **{k: v for k, v in echo.items() if k in body}}
        elif envelope is not None:
            body = _copy(self._template_answer())
            if not isinstance(body, dict):
                body = {}
            target = _schema_path(self.spec, schema, envelope)
            shown = self._shown(target, value, many=many, raw=raw, field_name=field_name)
            body = _set_path(body, envelope, shown)
            if target is not None and not raw and "." not in envelope:
                placed = envelope  # the item's place, shown as the operation declares it
        else:
            body = self._shown(schema, value, many=many, raw=raw, field_name=field_name)
        if binding is not None and binding.search is not None and binding.search.total:
            body = _set_path(body, binding.search.total, total or 0)
        if binding is not None and binding.answer is not None:
            filled = _plain(render(binding.answer, env))
            # The item's place, shown already (with its kind's undeclared members): it stays
            # as shown unless the answer names it.
            kept = body.get(placed, MISSING) if placed and isinstance(body, dict) else MISSING
            if isinstance(body, dict) and isinstance(filled, dict):
                body = {**body, **filled}  # each member the answer names, replaced whole
                if placed in filled:
                    kept = MISSING
            elif filled is not MISSING:
                body, kept = filled, MISSING
            if schema is not None:  # the filled-in answer, as the operation declares it
                body = project(self.spec, schema, body)
                if kept is not MISSING and isinstance(body, dict) and placed in body:
                    body = {**body, placed: kept}
            if binding.undeclared and isinstance(body, dict) and isinstance(filled, dict):
                body = {**body, **_visible(filled)}  # as the provider answers, not narrower
        if page is not None:  # last: what the page says stands over the answer's members
            for path, meta in page.meta.items():
                if (
                    page.undeclared
                    or get_path(body, path) is not MISSING
                    or _schema_path(self.spec, schema, path)
                ):
                    body = _set_path(body, path, meta)
        return Answer(status, body, headers, read, media)

    def _shown(
        self, schema: Any, value: Any, *, many: bool, raw: bool, field_name: str | None
    ) -> Any:
        if raw or schema is None:
            return value
        s = flat(self.spec, schema)
        if field_name is not None and isinstance(value, dict) and "array" in types(s):
            value, many = value.get(field_name) or [], True
        if many:
            items = s.get("items", {})
            return [self._undeclared(v, project(self.spec, items, v)) for v in value]
        return self._undeclared(value, project(self.spec, schema, value))

    def _undeclared(self, stored: Any, shown: Any) -> Any:
        """`shown` with the members its kind shows though its schema has no place for
        them (`undeclared`), as `stored` holds them."""
        binding = self.binding
        if binding is None or binding.kind is None:
            return shown
        names = self.spec.resources.kind(binding.kind).undeclared
        if not names or not isinstance(stored, dict) or not isinstance(shown, dict):
            return shown
        extra = {n: _plain(stored[n]) for n in names if n in stored and n not in shown}
        return {**shown, **extra} if extra else shown


class _Relations:
    """The `relate` callback of `shape`: names in a relation's field become its items."""

    def __init__(
        self, turn: _Turn, kind_name: str, scope: tuple[str, ...], *, skip_missing: bool = False
    ) -> None:
        self.turn = turn
        self.kind = turn.spec.resources.kind(kind_name)
        self.scope = dict(zip(self.kind.scope, scope, strict=False))
        self.skip_missing = skip_missing  # GitHub ignores assignees it cannot add

    def __call__(self, field_name: str, schema: Any, value: Any) -> Any:
        relation = self.kind.relations.get(field_name)
        if relation is None:
            return MISSING
        turn = self.turn
        spec = turn.spec
        many = isinstance(value, list)
        target = flat(spec, schema)
        if many and "items" in target:
            target = target["items"]
        env = turn.env.child(scope=self.scope)
        saved, turn.env = turn.env, env
        try:
            scope = turn.scope_of(
                relation.kind, relation.scope or {v: f"{{scope.{v}}}" for v in self.scope}
            )
        finally:
            turn.env = saved
        out = []
        for name in value if many else [value]:
            if name is None:
                continue
            wanted = name.get(relation.by) if isinstance(name, dict) else name
            if wanted is None:
                continue
            found = turn.find(relation.kind, scope, text_of(wanted), [relation.by])
            if found is None and self.skip_missing and not relation.create:
                continue
            if found is None:
                if not relation.create:
                    title = turn.spec.resources.kind(relation.kind).title or relation.kind
                    raise Refused(
                        Refusal(
                            relation.error,
                            f"no {title} {text_of(wanted)!r} in this sandbox",
                            code=relation.code,
                            resource=turn._title(),
                            field=field_name,
                            errors=(FieldError(f"/body/{field_name}", f"invalid {wanted}"),),
                            value=value,
                        )
                    )
                found = self._created(relation.kind, relation.by, wanted, scope)
            if not turn.checking:
                out.append(turn.related(relation.kind, found, scope, target))
        return out if many else (out[0] if out else None)

    def _created(self, kind_name: str, by: str, name: Any, scope: tuple[str, ...]) -> Entry:
        turn = self.turn
        kind = turn.spec.resources.kind(kind_name)
        item = turn._blank(kind_name, kind, scope, {by: name})
        key = text_of(item.get(turn._key_field(kind_name, kind), name))
        turn.view.put(collection_id(kind_name, scope), key, item)
        return key, item


def _inferred_create(turn: _Turn, kind_name: str, kind: Kind) -> Mapping[str, Any]:
    """For an inferred kind: a new key in the provider's format, and the clock's time in
    the fields that say when it was created and changed."""
    cache_key = ("inferred-create", kind_name)
    cached = turn.spec.cache.get(cache_key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    schema = flat(turn.spec, turn.kind_schema(kind_name))
    props = schema.get("properties") or {}
    templates: dict[str, Any] = {}
    item_path = turn.spec.resources.paths.get(kind_name)
    param = item_param(item_path) if item_path is not None else kind.key
    name = key_field(kind.key, props)
    if name is not None:
        sub = flat(turn.spec, props[name])
        example = template_value(turn.spec, schema)
        current = example.get(name) if isinstance(example, dict) else None
        templates[name] = id_template(sub, current)
    created, updated = timestamp_fields(props)
    for field_name in (*created, *updated):
        templates[field_name] = "{now}"
    if item_path is not None and name is not None:
        # Its own address: Twilio's relative `uri`, a REST `url` on the API's origin.
        own = re.sub(
            r"\{([^{}]+)\}",
            lambda m: f"{{item.{name}|quote}}" if m[1] == param else f"{{req.{m[1]}|quote}}",
            item_path,
        )
        for link, prefix in (("uri", ""), ("url", "{base}"), ("self", "{base}")):
            if "string" in types(flat(turn.spec, props.get(link, {}))):
                templates[link] = prefix + own
    turn.spec.cache[cache_key] = templates
    return templates


def _visible(value: Any) -> Any:
    """A value without its hidden (`@`) members, at any depth."""
    if isinstance(value, dict):
        return {k: _visible(v) for k, v in value.items() if not k.startswith("@")}
    if isinstance(value, list):
        return [_visible(v) for v in value]
    return value


_OUTSIDE_ITEM = ("req", "ref", "prev", "items", "anonymous", "credential")


def _self_contained(spec: CompiledSpec, kind_name: str) -> bool:
    """Whether a kind's computed fields read only the item, its scope and what is fixed for
    a request (`me`, `now`, `base`): no aggregates, checks or request inputs."""
    key = ("self-contained", kind_name)
    known = spec.cache.get(key)
    if known is None:
        kind = spec.resources.kind(kind_name)
        text = json.dumps(
            {k: v for k, v in kind.computed.items() if not isinstance(v, Aggregate | Check)},
            default=str,
        )
        known = not any(
            isinstance(v, Aggregate | Check) for v in kind.computed.values()
        ) and not any(re.search(rf"[{{$]{root}\b", text) for root in _OUTSIDE_ITEM)
        spec.cache[key] = known
    return bool(known)


def _plain(value: Any) -> Any:
    """A value as JSON holds it: times as ISO 8601 text."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _anonymous(spec: CompiledSpec, request: MockRequest, context: MockContext) -> bool:
    """`{anonymous}`: whether credentials are checked and the request carries none (what
    a provider hides from such callers, a reference's `where` may hide)."""
    if context.auth == "off":
        return False
    declared = spec.declarations.auth
    if declared is not None:
        return credential(declared, request) is None
    return "token" not in presented(request)


def _same(actual: Any, wanted: Any, folded: bool) -> bool:
    """`same`, regardless of case for a kind that is `case_insensitive`."""
    if folded and isinstance(actual, str) and isinstance(wanted, str):
        return actual.casefold() == wanted.casefold()
    return same(actual, wanted)


def _given(value: Any) -> bool:
    return value not in (MISSING, None, "", [], {})


def _rendered(templates: Mapping[str, Any], env: Env) -> dict[str, Any]:
    out = {}
    for name, template in templates.items():
        value = render(template, env)
        if value is not MISSING:
            out[name] = value
    return out


def _merge(base: Any, changes: Mapping[str, Any]) -> dict[str, Any]:
    """`changes` over `base`; objects one level deep merge (Stripe's metadata)."""
    out = dict(base) if isinstance(base, dict) else {}
    for name, value in changes.items():
        old = out.get(name)
        if isinstance(old, dict) and isinstance(value, dict) and not name.startswith("@"):
            out[name] = {**old, **value}
        else:
            out[name] = value
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _set_path(body: Any, path: str, value: Any) -> Any:
    """`body` with `value` at the dotted `path`, copying along the way."""
    head, _, rest = path.partition(".")
    out = dict(body) if isinstance(body, dict) else {}
    out[head] = _set_path(out.get(head), rest, value) if rest else value
    return out


def _schema_path(spec: CompiledSpec, schema: Any, path: str) -> Any:
    current = schema
    for part in path.split("."):
        if current is None:
            return None
        props = flat(spec, current).get("properties") or {}
        current = props.get(part)
    return current


def _list_member(spec: CompiledSpec, schema: Any) -> str | None:
    """Where a list answer that is an object holds its items (Stripe's `data`, Twilio's
    `messages`): its one array-of-objects member."""
    s = flat(spec, schema)
    if "object" not in types(s):
        return None
    arrays = [
        name
        for name, member in (s.get("properties") or {}).items()
        if "array" in types(flat(spec, member))
    ]
    return arrays[0] if len(arrays) == 1 else None


def _array_member(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    arrays = [
        k for k, v in value.items() if isinstance(v, list) and all(isinstance(i, dict) for i in v)
    ]
    return arrays[0] if len(arrays) == 1 else None


def _status_number(key: str) -> int:
    if key.isdigit():
        return int(key)
    return int(key[0]) * 100 if key[:1].isdigit() else 200


def _order_key(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, text_of(value))


def build_world(spec: CompiledSpec, fixtures: Mapping[str, Any], seed: int, now: datetime) -> World:
    """A service's world from its rendered fixtures: `{"me": …, "world": [{"kind", "scope",
    "items"}], "stubs": […]}`. Each item is made as a create would make it (ids, defaults,
    relations, transitions), in order, so later items may name earlier ones."""
    turn = _made(spec, fixtures, seed, now, checking=False)
    items_by_collection: dict[str, dict[str, Any]] = {}
    sequences: dict[str, Any] = {}
    for change in turn.view.changes:
        if change.collection == SEQUENCES:
            sequences[change.key] = change.value
        else:
            items_by_collection.setdefault(change.collection, {})[change.key] = change.value
    return World.of(items_by_collection, _me(turn, fixtures.get("me")), sequences)


def check_world(spec: CompiledSpec, fixtures: Mapping[str, Any]) -> None:
    """Whatever `build_world` would refuse, refused now (a `ConfigError` naming the item),
    at a fraction of its cost: every item made only as far as anything can refuse it. A
    sandbox's world is checked when it is created and built when first asked for."""
    turn = _made(spec, fixtures, 0, datetime(2026, 1, 1, tzinfo=UTC), checking=True)
    _me(turn, fixtures.get("me"))


def _made(
    spec: CompiledSpec, fixtures: Mapping[str, Any], seed: int, now: datetime, *, checking: bool
) -> _Turn:
    context = MockContext(seed=seed, now=now, at=now, closed_world=True)
    view = View(EMPTY_WORLD, {})
    turn = _Turn(spec, None, None, MockRequest("GET", "/"), context, {}, frozenset(), view, None)
    turn.checking = checking
    groups = fixtures.get("world") or []
    if not isinstance(groups, list):
        raise ConfigError("`world` must be a list of groups", pointer="/world")
    for index, group in enumerate(groups):
        here = f"/world/{index}"
        if not isinstance(group, Mapping) or group.get("kind") not in spec.resources.kinds:
            known = ", ".join(sorted(k for k in spec.resources.kinds if not k.startswith("/")))
            raise ConfigError(f"each group needs a `kind`, one of: {known}", pointer=f"{here}/kind")
        kind_name = str(group["kind"])
        kind = spec.resources.kind(kind_name)
        scope_values = group.get("scope") or {}
        items = group.get("items") or []
        if not isinstance(scope_values, Mapping) or not isinstance(items, list):
            raise ConfigError("`scope` is an object and `items` a list", pointer=here)
        turn.env.roots["req"] = dict(scope_values)
        scope = turn.scope_of(kind_name, {})
        for position, fields in enumerate(items):
            if not isinstance(fields, Mapping):
                raise ConfigError("an item is an object", pointer=f"{here}/items/{position}")
            try:
                item = turn._blank(kind_name, kind, scope, fields)
            except Refused as refused:
                raise ConfigError(
                    f"world item cannot be made: {refused.refusal.detail}",
                    pointer=f"{here}/items/{position}",
                ) from None
            if not checking:
                item = turn.transitions(kind_name, item, None, scope)
            key = item.get(turn._key_field(kind_name, kind))
            if key is None:
                raise ConfigError(
                    f"the item has no {kind.key!r}", pointer=f"{here}/items/{position}"
                )
            view.put(collection_id(kind_name, scope), text_of(key), item)
    return turn


def _me(turn: _Turn, declared: Any) -> Mapping[str, Any] | None:
    """Who the agent is: a literal object, or `{"kind": "user", "key": "acme"}`."""
    if declared is None:
        return None
    if isinstance(declared, Mapping) and "kind" in declared and "key" in declared:
        kind_name = str(declared["kind"])
        if kind_name not in turn.spec.resources.kinds:
            raise ConfigError(f"no resource kind {kind_name!r}", pointer="/me/kind")
        scope = tuple(str(v) for v in (declared.get("scope") or {}).values())
        found = turn.find(kind_name, scope, text_of(declared["key"]))
        if found is None:
            raise ConfigError(f"`me` names {declared['key']!r}, not in the world", pointer="/me")
        if turn.checking:
            return None
        return turn.computed(kind_name, found[1], scope, None)  # type: ignore[no-any-return]
    if isinstance(declared, Mapping):
        return dict(declared)
    raise ConfigError("`me` is an object", pointer="/me")


__all__ = ["Answer", "Refusal", "act", "build_world", "check_world"]
