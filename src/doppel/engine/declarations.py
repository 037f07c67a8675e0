"""A template's declarations (`x-doppel`), read into typed values and checked at compile.

Everything vendor-specific lives here as data: the resources a service holds (keys, scopes,
ids, relations, counters, transitions, filters, sort), what each operation does with them,
which path parameters name something the world must hold, the provider's error shapes,
tokens, pagination styles and streaming. `docs/templates.md` documents every member.
Templates and conditions are those of `engine/expressions.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from doppel.errors import FieldError, SpecError

Template = Any  # a JSON value whose strings may hold placeholders
Condition = dict[str, Any]
Order = Literal["asc", "desc"]
ErrorKind = Literal[
    "not_found",
    "refused",  # a provider's refusal with its own code (Slack's no_text); else invalid_request
    "unauthorized",
    "bad_credentials",
    "invalid_request",
    "unreadable",  # a body that cannot be read as its content type says; else invalid_request
    "conflict",
    "forbidden",
    "method_not_allowed",
    "not_acceptable",
]
Action = Literal[
    "answer",  # no resource: the operation's answer with `answer` filled in
    "list",
    "read",
    "read_many",
    "create",
    "update",
    "upsert",  # update when the item exists, else create (GitHub's PUT contents)
    "delete",
    "append",  # add values to an item's array field (labels, assignees, reactions)
    "remove",  # take values out of an item's array field
    "clear",  # empty an item's array field
    "replace",  # set an item's array field to the values sent
    "search",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Lookup(_Strict):
    """How to find an item from a request: a key template, the fields it may equal, and the
    error when nothing matches (in a closed world)."""

    kind: str
    key: Template = None
    match: list[str] = Field(default_factory=list)  # item fields the key may equal
    trim: str = ""  # characters stripped from the key first (Slack's '#general')
    scope: dict[str, Template] = Field(default_factory=dict)
    where: Condition | None = None  # the item must also satisfy this
    error: ErrorKind = "not_found"
    code: str | None = None  # the provider's own code (Slack: channel_not_found)
    field: str | None = None  # the input to name in an invalid_request error
    detail: str | None = None
    optional: bool = False  # nothing found is no refusal: `{ref.NAME}` is simply absent


class Reference(Lookup):
    """Path or body parameters that name something the world must hold: every operation
    whose inputs include all of `params` answers not found when it holds nothing."""

    params: list[str]
    name: str | None = None  # readable as `{ref.NAME}` in templates


class Relation(_Strict):
    """A field that names other items: `labels: ["bug"]` becomes the label objects."""

    kind: str
    by: str  # the related item's field that a name refers to
    scope: dict[str, Template] = Field(default_factory=dict)
    create: bool = False  # an unknown name creates the related item (GitHub's labels)
    error: ErrorKind = "invalid_request"
    code: str | None = None


class Aggregate(_Strict):
    """A field computed on every read from other items: `count` of them, the `distinct`
    values of a path across them, their `max` or `sum`, or the `first` of them."""

    of: str  # the kind counted
    where: Condition = Field(default_factory=dict)
    scope: dict[str, Template] = Field(default_factory=dict)
    count: bool = False
    distinct: str | None = None
    max: str | None = None
    sum: str | None = None
    first: bool = False  # the first matching item itself (shown with its computed fields)
    omit_empty: bool = False

    @model_validator(mode="after")
    def _one_function(self) -> Aggregate:
        chosen = (
            self.count,
            self.distinct is not None,
            self.max is not None,
            self.sum is not None,
            self.first,
        )
        if chosen.count(True) != 1:
            raise ValueError("an aggregate needs one of count, distinct, max, sum, first")
        return self


class Check(_Strict):
    """A boolean computed on every read: whether the item satisfies `holds`
    (Slack's `is_member`: `{"@members": "{me.id}"}`)."""

    holds: Condition


class Fallback(_Strict):
    """Reading through to another scope: a new branch shows its base branch's files until it
    changes them. The item found by `kind`/`key` names, in `field`, the scope value of `var`
    to read through to."""

    var: str
    kind: str
    key: Template
    field: str


class Transition(_Strict):
    """On create or update: when the item satisfies `when` (and `prev`, the item before the
    change, satisfied `was`), set these fields."""

    when: Condition = Field(default_factory=dict)
    was: Condition | None = None
    set: dict[str, Template]


class Filter(_Strict):
    """A list's query parameter that filters, by the item paths in `field`."""

    field: list[str] = Field(default_factory=list)
    op: Literal["eq", "gt", "ge", "lt", "le", "contains", "prefix"] = "eq"
    split: str | None = None  # `labels=bug,ui`: several values...
    match: Literal["any", "all"] = "any"  # ...of which any or all must hold
    all: str | None = None  # a value meaning no filter (`state=all`)
    none: str | None = None  # a value meaning the field is empty (`assignee=none`)
    any: str | None = None  # a value meaning the field is set (`assignee=*`)
    default: Any = None  # applied when the parameter is absent
    values: dict[str, Condition] | None = None  # named conditions (Slack's `types`)
    when: Any = None  # filter only when the parameter has this value
    condition: Condition | None = None  # what then holds (with `when`)
    inclusive: str | None = None  # a parameter turning gt/lt into ge/le


class Sort(_Strict):
    param: str = "sort"
    direction: str | None = "direction"
    fields: dict[str, str] = Field(default_factory=dict)  # parameter value → item path
    default: str | None = None
    default_direction: Order = "desc"


class Pagination(_Strict):
    """How a provider pages a list: `page` (GitHub `per_page`/`page` + Link header, Twilio
    `PageSize`/`Page`), `cursor` (Slack `limit`/`cursor`), `after` (Stripe `limit`/
    `starting_after`/`ending_before`), `offset`, or `none`."""

    style: Literal["page", "cursor", "after", "offset", "none"]
    size: str | None = None
    page: str | None = None
    cursor: str | None = None
    after: str | None = None
    before: str | None = None
    offset: str | None = None
    default_size: int = 30
    max_size: int = 100
    first_page: int = 1
    link: bool = False  # an RFC 8288 `Link` header with next, prev, first, last
    next_cursor: str | None = None  # where the next cursor goes in the answer
    # The last page's next cursor: empty (Slack's lists), or not given at all (Slack's
    # history, whose last page has no `response_metadata`).
    last_cursor: Literal["empty", "omit"] = "empty"
    has_more: str | None = None
    cursor_prefix: str = ""  # Slack's cursors read as base64 of "channel:C…"
    uris: dict[str, str] = Field(default_factory=dict)  # next/previous/first → answer path
    meta: dict[str, str] = Field(default_factory=dict)  # page/page_size/start/end/uri/url
    # Place these members even where the operation's schema has no place for them: the
    # provider sends them though its description forgot them (Slack's history cursor).
    undeclared: bool = False


class Kind(_Strict):
    """A kind of resource: items with a `key`, held per `scope` (the path parameters that
    partition them), fitted to `schema` (a JSON pointer, or an operationId whose success
    answer is one item)."""

    key: str = "id"
    scope: list[str] = Field(default_factory=list)
    schema_: str | None = Field(None, alias="schema")
    # The collection path (`/v1/customers`, Twilio's `/…/Messages.json`) this kind refines:
    # its operations, scope, schema, filters, ids and timestamps are inferred from the spec
    # as for any collection, and what is declared here is added over them.
    path: str | None = None
    title: str | None = None  # the provider's name for it in errors ("Issue")
    create: dict[str, Template] = Field(default_factory=dict)
    update: dict[str, Template] = Field(default_factory=dict)
    computed: dict[str, Aggregate | Check | Template] = Field(default_factory=dict)
    views: dict[str, dict[str, Aggregate | Check | Template]] = Field(default_factory=dict)
    relations: dict[str, Relation] = Field(default_factory=dict)
    transitions: list[Transition] = Field(default_factory=list)
    unique: dict[str, str] = Field(default_factory=dict)  # field → error code when taken
    # Keys (and `unique` fields) compare regardless of case: `BUG` names the label `bug`,
    # and creating `BUG` where `bug` exists is taken (GitHub's label names).
    case_insensitive: bool = False
    fallback: Fallback | None = None
    filters: dict[str, Filter] = Field(default_factory=dict)
    sort: Sort | None = None
    order: Order = "asc"
    pagination: str | None = None  # a named style of `x-doppel.pagination`
    not_found: str | None = None  # the provider's code for an unknown one
    envelope: str | None = None  # where one item (or a list) sits in answers
    # Members shown with an item though its schema has no place for them: the provider
    # sends them (Slack's `edited`, which the description's `objs_message` forbids).
    undeclared: list[str] = Field(default_factory=list)


class Group(_Strict):
    """Append/remove into grouped entries (Slack reactions: `{name, users, count}`)."""

    by: str  # the entry field naming the group (`name`)
    members: str  # the entry's array of members (`users`)
    count: str | None = None  # the entry's member count
    member: Template  # who is added or removed (`{me.id}`)
    name: Template  # which group (`{req.name}`)
    exists: str | None = None  # code when the member is already there (`already_reacted`)
    absent: str | None = None  # code when removing what is not there (`no_reaction`)


class Require(_Strict):
    """A check beyond the spec's schema: one of the inputs `any_of` given; the item acted on
    satisfying `when` (or not `unless`). `during` limits it to creating or to updating
    (an upsert does either)."""

    during: Literal["any", "create", "update"] = "any"
    ref: str | None = None  # check `when`/`unless` on this referenced item instead
    any_of: list[str] | None = None
    when: Condition | None = None  # on the item acted on (e.g. not archived)
    unless: Condition | None = None
    error: ErrorKind = "refused"
    code: str | None = None
    field: str | None = None
    status: int | None = None
    detail: str | None = None


class Effect(_Strict):
    """Something an operation also does to other items: update or create one, or copy a
    scope's own items into another scope (a merge)."""

    kind: str
    action: Literal["update", "create", "copy", "delete"] = "update"
    key: Template = None
    scope: dict[str, Template] = Field(default_factory=dict)
    to: dict[str, Template] = Field(default_factory=dict)  # copy: the target scope
    set: dict[str, Template] = Field(default_factory=dict)
    # On the env, so its keys are `$`-prefixed paths: `{"$item.state": "closed"}`.
    when: Condition | None = None


class Search(_Strict):
    """`q=repo:acme/rocket is:open label:bug words`: qualifiers, then words in fields."""

    param: str = "q"
    qualifiers: dict[str, Any] = Field(default_factory=dict)  # name → path | {value: cond}
    scope: dict[str, list[str]] = Field(default_factory=dict)  # qualifier → scope it fills
    words: list[str] = Field(default_factory=list)
    total: str | None = None  # where the total count goes in the answer
    extra: dict[str, Template] = Field(default_factory=dict)  # per item (GitHub's score)


class ErrorShape(_Strict):
    """The provider's error body; `{detail}`, `{code}`, `{errors}`, `{resource}` and
    `{field}` are filled in, each of `errors` built from `item`."""

    status: int = 400
    body: Template = None
    headers: dict[str, str] = Field(default_factory=dict)
    item: Template = None
    codes: dict[str, str] = Field(default_factory=dict)  # failure (required…) → code
    code: str | None = None  # the default `{code}`
    # Send this body even where the operation's description declares its errors otherwise:
    # the provider does (Slack's invalid_arguments carries response_metadata, which its
    # 2020 error schemas forbid). Without it, such an error is answered as declared.
    undeclared: bool = False


class Binding(_Strict):
    """What one operation does (`x-doppel.operations.<operationId>`). Without `action`, it
    refines what is inferred for the operation: only the members given are changed."""

    kind: str | None = None
    action: Action | None = None
    key: Template = None
    match: list[str] = Field(default_factory=list)
    trim: str = ""
    scope: dict[str, Template] = Field(default_factory=dict)  # a list: the first given
    field: str | None = None  # the array field append/remove/clear/replace act on
    value: Template = None  # what append/remove/replace use
    by: str | None = None  # the entry field that identifies a value (remove, dedupe)
    group: Group | None = None
    set: dict[str, Template] = Field(default_factory=dict)
    inputs: bool = True  # whether request fields are stored (create/update)
    where: Condition | None = None
    references: dict[str, Lookup] = Field(default_factory=dict)
    requires: list[Require] = Field(default_factory=list)
    envelope: str | None = None
    answer: Template = None
    result: Literal["item", "field", "none"] | None = None
    effects: list[Effect] = Field(default_factory=list)
    # The members `answer` names stand as rendered, even where the operation's schema
    # declares them narrower: the provider answers more (Slack's chat.update `message`,
    # which its description gives as text, blocks and attachments alone).
    undeclared: bool = False
    status: int | None = None
    view: str | None = None
    keys: Template = None  # read_many: the keys asked for
    wrap: Template = None  # read_many, list: each found item's entry (`{item.id}`)
    among: Template = None  # read_many: where keys are found (`{ref.doc.tree}`), not the kind
    nested: str | None = None  # read_many: the member listing an item's own items: any depth
    depth: Template = None  # read_many with `nested`: levels shown below a found item
    search: Search | None = None
    sort: Sort | None = None
    order: Order | None = None
    filters: dict[str, Filter] | None = None
    pagination: str | None = None
    conflict: str | None = None  # create: code when the key is taken
    missing: Literal["error", "skip"] = "error"
    errors: dict[ErrorKind, ErrorShape] = Field(default_factory=dict)  # this operation's own
    validate_requests: bool | None = None  # where the provider accepts more than its spec says


class Credential(_Strict):
    header: str | None = None
    schemes: list[str] = Field(default_factory=list)  # `Authorization: token …`
    param: str | None = None  # a query or form parameter (Slack's `token`)
    # With the Basic scheme, which half of `user:password` is the token (Stripe's secret
    # key is the user name; Twilio's auth token the password).
    basic: Literal["user", "password"] | None = None


class Auth(_Strict):
    """Credentials as the provider takes them, and the format of the tokens Doppel issues."""

    required: Literal["all", "declared"] = "declared"
    credentials: list[Credential] = Field(default_factory=list)
    token: str = "doppel_{alnum:32}"
    pattern: str | None = None  # what a well-formed token looks like
    anonymous: list[str] = Field(default_factory=list)  # operationIds needing none
    # Methods whose operations serve callers without credentials too (GitHub's GET of
    # public data), except operations that declare a 401 answer (`GET /user`) and those
    # `authenticated` names. What such callers may not see, a reference's `where` hides
    # (`{any: [{private: false}, {$anonymous: false}]}`: `{anonymous}` is true when
    # credentials are checked and none came).
    anonymous_methods: list[str] = Field(default_factory=list)
    # Operations that need credentials all the same: operationIds, or path templates
    # (`/user`) naming that path and every path below it.
    authenticated: list[str] = Field(default_factory=list)


class Streaming(_Strict):
    """Server-sent events. By default `events` events generated from the event schema; with
    `each`, the whole answer told piece by piece: `first`, then `each` for every piece of
    the `text` at that path of the whole answer (`{piece}`), then `last`, each rendered
    with `{answer}` (the whole answer, as the operation would give it unstreamed)."""

    flag: str | None = "stream"  # a boolean body member that switches to events
    events: int = Field(3, ge=1, le=100)
    done: str | None = None  # the last event's data (OpenAI: [DONE])
    text: str | None = None  # e.g. `choices.0.message.content`
    first: Template = None
    each: Template = None
    last: Template = None


class Alias(_Strict):
    """Another address of each item's path: a request under `alias` rendered for an item of
    `kind` (`/repositories/{item.id}/issues`) is served as under `path` rendered for it
    (`/repos/{item.full_name}/issues`), where no operation of the spec matches it as sent.
    With `links`, a list under `path` names its pages by `alias` (GitHub's Link headers)."""

    kind: str
    path: Template
    alias: Template
    links: bool = False


class Declarations(_Strict):
    closed_world: bool = False
    validate_requests: bool | None = None
    enforce_auth: bool | None = None
    rpc: bool | None = None
    state: bool = True  # infer REST collections from the spec
    upstreams: list[str] = Field(default_factory=list)
    # Optional path prefixes: requests route, and stub keys match, with or without them.
    prefixes: list[str] = Field(default_factory=list)
    errors: dict[ErrorKind, ErrorShape] = Field(default_factory=dict)
    auth: Auth | None = None
    resources: dict[str, Kind] = Field(default_factory=dict)
    operations: dict[str, Binding] = Field(default_factory=dict)
    references: list[Reference] = Field(default_factory=list)
    sequences: dict[str, int] = Field(default_factory=dict)
    pagination: dict[str, Pagination] = Field(default_factory=dict)
    streaming: Streaming | None = None
    aliases: list[Alias] = Field(default_factory=list)
    # The Content-Type the provider sends for a media type it answers in (GitHub:
    # `application/json: application/json; charset=utf-8`).
    content_types: dict[str, str] = Field(default_factory=dict)
    # Media types of request bodies read as JSON when they parse as JSON: GitHub reads the
    # JSON that `curl -d` labels `application/x-www-form-urlencoded`. `*/*`: any label.
    json_bodies: list[str] = Field(default_factory=list)
    # What the service holds from the start, as a template's fixtures give it (groups of
    # `{kind, scope, items}`, and who `me` is); a template's rendered fixtures add to it.
    world: list[dict[str, Any]] = Field(default_factory=list)
    me: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _kinds_exist(self) -> Declarations:
        known = set(self.resources)
        for style in [k.pagination for k in self.resources.values()]:
            if style is not None and style not in self.pagination:
                raise ValueError(f"pagination style {style!r} is not declared")
        for alias in self.aliases:
            if alias.kind not in known:
                raise ValueError(f"an alias names the undeclared resource {alias.kind!r}")
        return self


def parse_declarations(raw: Any) -> Declarations:
    """`x-doppel` as typed declarations; a `SpecError` names each wrong member's pointer."""
    if raw is None:
        return Declarations()
    if not isinstance(raw, Mapping):
        raise SpecError("`x-doppel` must be an object", pointer="/x-doppel")
    try:
        return Declarations.model_validate(raw)
    except ValidationError as exc:
        errors = [
            FieldError("/x-doppel" + "".join(f"/{part}" for part in e["loc"]), e["msg"])
            for e in exc.errors()
        ]
        raise SpecError(
            f"`x-doppel` is invalid: {errors[0].pointer}: {errors[0].detail}", errors=errors
        ) from None
