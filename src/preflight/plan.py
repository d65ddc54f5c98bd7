"""A plan JSON (what ``terraform show -json PLANFILE`` writes) read as Terraform JSON, so that every
check works on it unchanged and an HCL project is checked through its plan.

Each planned resource instance becomes one block holding the arguments its configuration writes
(``configuration.…resources[].expressions``; what a provider fills in by default is left out, so "not
set explicitly" still means what it means in Terraform JSON). Values known after plan come from
``planned_values``. An argument that refers to another resource is written as the reference
(``"${aws_s3_bucket.logs.arn}"``) so checks can follow it: a known value equal to the value of an
attribute the expression refers to is that reference. A plan lists an expression's references (in
source order) but not its text, so a string unknown until apply is written as its first reference still
unknown, followed by ``*`` ("this, then text the plan does not show"): IAM and ``source_arn`` patterns
built on an ARN then cover what the ARN covers, and a name built from it is not literal. An unknown
list element becomes one element per such reference, an unknown map member all of them. A map with
one unknown member is unknown as a whole and shows no keys: the maps the checks read (a function's
variables, a deployment's triggers) are then written with one entry per reference, named after it.
Lifecycle blocks are not in a plan.

A plan writes sensitive values in plain text; preflight never copies one: every value its sensitivity
mask (``sensitive_values``, ``after_sensitive``) covers, and the value of a root variable declared
``sensitive``, becomes ``SENSITIVE`` (``"${sensitive}"``: not literal, and no reference). A nested block
written with ``dynamic`` is not among a configuration's expressions, so a list of nested blocks the plan
has values for is kept even when the configuration does not list it (scalar provider defaults are
still left out). The aws provider blocks hold the region and default tags, as constants or as the root
variable they name (``region = var.region``); a resource on an aliased provider gets ``"provider":
"aws.ALIAS"``, and one on a provider block written inside a module an internal alias for it.

Instances inside modules or with count/for_each get an internal name references resolve to
(``module.net.aws_s3_bucket.b[0]`` is ``aws_s3_bucket.net__b__0``); each block's ``"//": {"plan": …}``
records the address Terraform shows, which reports use.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preflight.model import Resource, UnusableInput

Pointer = tuple[str | int, ...]
#: Reference roots that are not resources (``data.`` is handled separately).
_NOT_RESOURCES = {"var", "local", "module", "each", "count", "path", "self", "terraform"}
_REFERENCE = re.compile(r"(data\.)?([A-Za-z][\w-]*)\.([A-Za-z_][\w-]*)(\[[^\]]*\])?(.*)")
#: The object a reference starts from: ``var.tags`` of ``var.tags["Env"]``.
_ROOT = re.compile(r"[^.\[]+(\.[\w-]+)?")
_STEP = re.compile(r"\.([\w-]+)|\[(\d+)\]|\[\"((?:[^\"\\]|\\.)*)\"\]")
HOW_TO_PLAN = "terraform plan -out p && terraform show -json p > plan.json"
#: Map arguments the checks read by entry, which a plan may leave unknown as a whole.
MAPS = {"variables", "triggers"}
#: The aws provider arguments checks read (besides alias): where names live, what the suffix may be learnt from.
PROVIDER_ARGUMENTS = {"region", "default_tags"}
#: What a sensitive value is written as: not a literal (checks treat it as computed), not a reference.
SENSITIVE = "${sensitive}"
#: A value of a nested block the configuration does not list (``dynamic``) known only after apply.
UNKNOWN = "${unknown}*"


def is_plan(document: Any) -> bool:
    """A ``terraform show -json PLANFILE`` document."""
    return (
        isinstance(document, Mapping)
        and "format_version" in document
        and ("planned_values" in document or "resource_changes" in document)
    )


def is_state(document: Any) -> bool:
    """A ``terraform show -json`` of a state (no plan in it)."""
    return isinstance(document, Mapping) and "format_version" in document and "values" in document


def planned_address(resource: Resource) -> str | None:
    """The address Terraform shows for a block translated from a plan; None for Terraform JSON."""
    comment = resource.body.get("//")
    plan = comment.get("plan") if isinstance(comment, Mapping) else None
    address = plan.get("address") if isinstance(plan, Mapping) else None
    return address if isinstance(address, str) else None


@dataclass
class _Instance:
    """One resource instance of the plan."""

    address: str  # as Terraform shows it
    module: str  # module instance address: "", "module.net", "module.net[0]"
    mode: str  # "managed" or "data"
    type: str
    name: str
    index: Any  # count index, for_each key, or None
    values: Mapping[str, Any]
    pointer: Pointer
    unknown: Any = None  # after_unknown: True, or an object/list of them
    internal: str = ""

    @property
    def section(self) -> str:
        return "data" if self.mode == "data" else "resource"

    @property
    def reference(self) -> str:
        """How a reference names this instance in the translated document."""
        return f"{'data.' if self.mode == 'data' else ''}{self.type}.{self.internal}"


@dataclass(frozen=True)
class _Ref:
    """A reference of an expression, resolved: its text in the translated document and what the plan knows."""

    text: str
    resource: bool
    value: Any = None
    known: bool = False


def translate(document: Mapping[str, Any], file: Path) -> tuple[dict[str, Any], dict[tuple[str, str, str], Pointer]]:
    """The Terraform JSON document a plan describes, and where each of its blocks is in the plan file."""
    version = str(document.get("format_version", ""))
    if version.split(".")[0] != "1":
        raise UnusableInput(f"{file}: plan JSON format_version {version!r} is not supported (preflight reads 1.x)")
    instances = list(_instances(document))
    _name(instances)
    configuration = document.get("configuration", {}) or {}
    blocks = _configuration_blocks(configuration.get("root_module", {}) or {}, "")
    configs = configuration.get("provider_config", {}) or {}
    variables = _variables(document)
    translated: dict[str, Any] = {"resource": {}, "data": {}}
    pointers: dict[tuple[str, str, str], Pointer] = {}
    for instance in instances:
        block = blocks.get((_without_keys(instance.module), instance.mode, instance.type, instance.name), {})
        scope = _Scope(instances, instance)
        expressions = block.get("expressions")
        if isinstance(expressions, Mapping):
            body = _body(instance.values, instance.unknown, expressions, scope)
        else:  # no configuration section for it: its known values are all there is
            body = {k: v for k, v in instance.values.items() if v is not None}
        depends = [ref.text for ref in map(scope.resolve, block.get("depends_on", []) or []) if ref.resource]
        if depends:
            body["depends_on"] = depends
        alias = _alias(str(block.get("provider_config_key") or ""), configs)
        if alias:
            body["provider"] = f"aws.{alias}"
        body["//"] = {"plan": {"address": instance.address}}
        translated[instance.section].setdefault(instance.type, {})[instance.internal] = body
        pointers[(instance.section, instance.type, instance.internal)] = instance.pointer
    provider = _providers(configs, variables)
    if provider:
        translated["provider"] = {"aws": provider}
    if isinstance(document.get("variables"), Mapping):
        translated["variable"] = {name: {"default": value} for name, value in variables.items()}
    return translated, pointers


def _variables(document: Mapping[str, Any]) -> dict[str, Any]:
    """The root variables' values the plan was made with; a variable declared sensitive is ``SENSITIVE``."""
    declared = ((document.get("configuration", {}) or {}).get("root_module", {}) or {}).get("variables", {}) or {}
    values = document.get("variables")
    found: dict[str, Any] = {}
    for name, item in (values if isinstance(values, Mapping) else {}).items():
        if isinstance(item, Mapping):
            declaration = declared.get(name) if isinstance(declared, Mapping) else None
            sensitive = isinstance(declaration, Mapping) and declaration.get("sensitive") is True
            found[name] = _hidden(item.get("value")) if sensitive else item.get("value")
    return found


def _alias(key: str, configs: Mapping[str, Any]) -> str:
    """The alias a resource's ``provider_config_key`` names among the translated aws provider blocks ("" for
    the default one). Keys: ``aws``, ``aws.eu`` (root), ``MODULE:aws.eu`` in a module, where MODULE is its
    path (``module.net``) or, as older Terraform writes, its bare name (``net``) while the provider_config
    key has the path. A provider block written inside a module gets an internal alias (see ``_providers``);
    a module's name for a provider passed in or inherited cannot be followed (the plan leaves out
    ``providers = {…}``): unaliased it is taken as the default one, aliased as one of unknown region."""
    module, _, local = key.rpartition(":")
    if local != "aws" and not local.startswith("aws."):
        return ""
    if not module:
        return local.removeprefix("aws").removeprefix(".")
    found = [k for k in configs if k == key or k == f"module.{key}" or k.endswith(f".module.{key}")]
    config = configs.get(found[0]) if len(found) == 1 else None
    if isinstance(config, Mapping) and config.get("expressions"):
        return _internal_alias(found[0])
    # Passed in aliased: no provider block has this alias, so its region is unknown.
    return "" if local == "aws" else _internal_alias(key)


def _internal_alias(key: str) -> str:
    return re.sub(r"[^\w-]", "_", key)


def _modules(
    module: Mapping[str, Any], pointer: Pointer, address: str
) -> Iterator[tuple[Mapping[str, Any], Pointer, str]]:
    """Every resource of a module of planned values or state, recursively, with its pointer and module."""
    for position, resource in enumerate(module.get("resources", []) or []):
        if isinstance(resource, Mapping):
            yield resource, (*pointer, "resources", position), address
    for position, child in enumerate(module.get("child_modules", []) or []):
        if isinstance(child, Mapping):
            yield from _modules(child, (*pointer, "child_modules", position), str(child.get("address", "")))


def _instances(document: Mapping[str, Any]) -> Iterator[_Instance]:
    """Planned instances (planned_values), then data sources read while planning (prior_state), then
    whatever only resource_changes shows (data sources read at apply); deleted ones are not planned."""
    changes = {
        str(change.get("address")): (position, change)
        for position, change in enumerate(document.get("resource_changes", []) or [])
        if isinstance(change, Mapping)
    }
    seen: set[str] = set()
    sources = [
        (document.get("planned_values", {}) or {}).get("root_module", {}) or {},
        ((document.get("prior_state", {}) or {}).get("values", {}) or {}).get("root_module", {}) or {},
    ]
    roots: list[Pointer] = [("planned_values", "root_module"), ("prior_state", "values", "root_module")]
    for source, root in zip(sources, roots, strict=True):
        for resource, pointer, module in _modules(source, root, ""):
            address = str(resource.get("address", ""))
            if address in seen or (root[0] == "prior_state" and resource.get("mode") != "data"):
                continue
            seen.add(address)
            change = changes.get(address, (0, {}))[1].get("change", {}) or {}
            values = _masked(
                _masked(resource.get("values") or {}, resource.get("sensitive_values")), change.get("after_sensitive")
            )
            yield _instance(resource, module, values, change.get("after_unknown"), pointer)
    for address, (position, item) in changes.items():
        change = item.get("change", {}) or {}
        if address in seen or not isinstance(change.get("after"), Mapping):
            continue
        seen.add(address)
        module = str(item.get("module_address", ""))
        values = _masked(change["after"], change.get("after_sensitive"))
        yield _instance(item, module, values, change.get("after_unknown"), ("resource_changes", position))


def _masked(value: Any, mask: Any) -> Any:
    """A value with what a sensitivity mask (the value's shape, True where sensitive) covers hidden."""
    if mask is True:
        return _hidden(value)
    if isinstance(mask, Mapping) and isinstance(value, Mapping):
        return {k: _masked(v, mask.get(k)) for k, v in value.items()}
    if isinstance(mask, list) and isinstance(value, list):
        return [_masked(v, mask[i] if i < len(mask) else None) for i, v in enumerate(value)]
    return value


def _hidden(value: Any) -> Any:
    """A sensitive value: ``SENSITIVE``, except that a list keeps its length and nested blocks their
    argument names (a block's shape is its schema's, not the secret), so checks reading them still can."""
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):  # nested blocks
        return [{k: _hidden(v) for k, v in item.items()} for item in value]
    if isinstance(value, list):
        return [_hidden(v) for v in value]
    return SENSITIVE


def _instance(item: Mapping[str, Any], module: str, values: Any, unknown: Any, pointer: Pointer) -> _Instance:
    return _Instance(
        str(item.get("address", "")),
        module,
        str(item.get("mode", "managed")),
        str(item.get("type", "")),
        str(item.get("name", "")),
        item.get("index"),
        values if isinstance(values, Mapping) else {},
        pointer,
        unknown,
    )


def _name(instances: list[_Instance]) -> None:
    """Internal names: the plain name for a root instance without count/for_each, otherwise the module
    path, name and key joined with "__" (characters a reference cannot hold become "_")."""
    used: set[tuple[str, str, str]] = set()
    for instance in instances:
        if not instance.module and instance.index is None:
            instance.internal = instance.name
            used.add((instance.mode, instance.type, instance.name))
    for instance in instances:
        if instance.internal:
            continue
        modules = re.findall(r"module\.([\w-]+)(?:\[([^\]]*)\])?", instance.module)
        parts = [p for name, key in modules for p in (name, key.strip('"')) if p]
        parts += [instance.name] + ([] if instance.index is None else [str(instance.index)])
        internal = "__".join(re.sub(r"[^\w-]", "_", p) for p in parts)
        while (instance.mode, instance.type, internal) in used:
            internal += "_"
        used.add((instance.mode, instance.type, internal))
        instance.internal = internal


def _configuration_blocks(module: Mapping[str, Any], path: str) -> dict[tuple[str, str, str, str], Mapping[str, Any]]:
    """Configuration resource blocks by (module path without keys, mode, type, name)."""
    blocks: dict[tuple[str, str, str, str], Mapping[str, Any]] = {}
    for resource in module.get("resources", []) or []:
        if isinstance(resource, Mapping):
            key = (path, str(resource.get("mode", "managed")), str(resource.get("type")), str(resource.get("name")))
            blocks[key] = resource
    for name, call in (module.get("module_calls", {}) or {}).items():
        if isinstance(call, Mapping):
            child = f"{path}.module.{name}" if path else f"module.{name}"
            blocks.update(_configuration_blocks(call.get("module", {}) or {}, child))
    return blocks


def _without_keys(module: str) -> str:
    return re.sub(r"\[[^\]]*\]", "", module)


def _key(text: str) -> Any:
    """``[0]`` -> 0, ``["a"]`` -> "a"."""
    inner = text[1:-1]
    return int(inner) if inner.isdigit() else inner.strip('"')


def _get(value: Any, key: str | int) -> Any:
    """A member of a value or of an unknown-mask (True masks everything under it)."""
    if value is True:
        return True
    if isinstance(value, Mapping) and isinstance(key, str):
        return value.get(key)
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        return value[key]
    return None


class _Scope:
    """Resolves the module-relative references of one instance's configuration."""

    def __init__(self, instances: list[_Instance], owner: _Instance) -> None:
        self.instances = instances
        self.owner = owner

    def resolve(self, text: str) -> _Ref:
        match = _REFERENCE.fullmatch(text)
        if match is None or (not match.group(1) and match.group(2) in _NOT_RESOURCES):
            return _Ref(text, resource=False)
        data, kind, name, key, rest = match.groups()
        mode = "data" if data else "managed"
        module = _without_keys(self.owner.module)
        candidates = [
            i
            for i in self.instances
            if i.mode == mode and i.type == kind and i.name == name and _without_keys(i.module) == module
        ]
        # The instance of the same module instance, then the one the key names (or the owner's own key,
        # as aws_x.y[count.index] resolves), then the first.
        candidates.sort(key=lambda i: i.module != self.owner.module)
        wanted = _key(key) if key else self.owner.index
        chosen = next((i for i in candidates if i.index == wanted), candidates[0] if candidates else None)
        if chosen is None:
            return _Ref(text, resource=False)  # count = 0, or not in this plan
        value, unknown = chosen.values, chosen.unknown
        for step in _STEP.finditer(rest):
            part: str | int = step.group(1) or (int(step.group(2)) if step.group(2) else step.group(3))
            value, unknown = _get(value, part), _get(unknown, part)
        return _Ref(f"{chosen.reference}{rest}", True, value, known=unknown is not True and bool(rest))

    def references(self, texts: list[str]) -> list[_Ref]:
        """The most specific references of an expression (Terraform also lists each shorter prefix)."""
        specific = [
            t for t in texts if not any(o != t and (o.startswith(t + ".") or o.startswith(t + "[")) for o in texts)
        ]
        return [self.resolve(t) for t in dict.fromkeys(specific)]


def _is_expression(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) <= {"constant_value", "references"}


def _body(values: Any, unknown: Any, expressions: Mapping[str, Any], scope: _Scope) -> dict[str, Any]:
    """The arguments a configuration block writes, with their planned values, and the nested blocks the
    plan has values for that the expressions leave out (``dynamic`` blocks)."""
    body: dict[str, Any] = {}
    for key, expression in expressions.items():
        written = _argument(key, _get(values, key), _get(unknown, key), expression, scope)
        if written is not None:
            body[key] = written
    if isinstance(values, Mapping):
        for key, value in values.items():
            if key not in expressions and _are_blocks(value):
                blocks = _get(unknown, key)
                body[key] = [_planned(item, _get(blocks, n)) for n, item in enumerate(value)]
    return body


def _are_blocks(value: Any) -> bool:
    """A non-empty list of objects: nested blocks."""
    return isinstance(value, list) and bool(value) and all(isinstance(item, Mapping) for item in value)


def _planned(value: Any, unknown: Any) -> Any:
    """A value the configuration's expressions do not show, as planned: members not set left out, what is
    known only after apply ``UNKNOWN``."""
    if unknown is True:
        return UNKNOWN
    if isinstance(value, Mapping) or (value is None and isinstance(unknown, Mapping)):
        known = value or {}
        planned = {k: _planned(v, _get(unknown, k)) for k, v in known.items()}
        if isinstance(unknown, Mapping):
            planned.update({k: UNKNOWN for k, m in unknown.items() if m is True and k not in known})
        return {k: v for k, v in planned.items() if v is not None}
    if isinstance(value, list):
        return [_planned(item, _get(unknown, n)) for n, item in enumerate(value)]
    return value


def _argument(key: str, value: Any, unknown: Any, expression: Any, scope: _Scope) -> Any:
    if value == SENSITIVE:  # not the expression's constants either: they are the secret too
        return SENSITIVE
    if _is_expression(expression):
        refs = scope.references(list(expression.get("references", []) or []))
        if not refs:
            return value if value is not None else expression.get("constant_value")
        if unknown is True and key in MAPS:
            return {r.text: f"${{{r.text}}}" if r.known else f"${{{r.text}}}*" for r in refs if r.resource}
        return _filled(value, unknown, refs, in_map=False)
    if isinstance(expression, list):  # a list or set of nested blocks
        if not expression:
            return value
        items = value if isinstance(value, list) and value else [None] * len(expression)
        return [
            _body(item, _get(unknown, position), expression[min(position, len(expression) - 1)], scope)
            for position, item in enumerate(items)
        ]
    if isinstance(expression, Mapping):  # a single nested block, or a map of them
        return _body(value, unknown, expression, scope)
    return value


def _pending(refs: list[_Ref]) -> list[str]:
    """How an unknown value's possible sources are written: the references still unknown at plan."""
    resources = [r for r in refs if r.resource]
    return [f"${{{r.text}}}*" for r in ([r for r in resources if not r.known] or resources or refs)]


def _filled(value: Any, unknown: Any, refs: list[_Ref], *, in_map: bool) -> Any:
    """A value with references put back: where the plan knows it, a value equal to a referenced
    attribute's is that reference; where it does not, what ``_pending`` gives."""
    if unknown is True:
        pending = _pending(refs)
        return "".join(pending) if in_map else pending[0]
    if value is None and isinstance(unknown, (Mapping, list)):
        value = {} if isinstance(unknown, Mapping) else [None] * len(unknown)  # known only as its unknown parts
    if isinstance(value, Mapping):
        filled = {k: _filled(v, _get(unknown, k), refs, in_map=True) for k, v in value.items()}
        if isinstance(unknown, Mapping):
            missing = [k for k, m in unknown.items() if m is True and k not in value]
            filled.update({k: _filled(None, True, refs, in_map=True) for k in missing})
        return filled
    if isinstance(value, list):
        items: list[Any] = []
        for position, item in enumerate(value):
            if _get(unknown, position) is True:
                items.extend(p for p in _pending(refs) if p not in items)
            else:
                items.append(_filled(item, _get(unknown, position), refs, in_map=in_map))
        return items
    if isinstance(value, str) and value and value != SENSITIVE:
        for ref in refs:
            if ref.resource and ref.known and ref.value == value:
                return f"${{{ref.text}}}"
    return value


def _providers(configs: Mapping[str, Any], variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The aws provider blocks, with what their configuration writes as constants or as a root variable
    (region, alias, default_tags: what the suffix may be learnt from). One written inside a module gets
    an internal alias (``_alias``); its ``var.`` references are the module's, so they are not followed."""
    found = []
    for key, config in configs.items():
        if not isinstance(config, Mapping) or config.get("name") != "aws":
            continue
        expressions = config.get("expressions", {}) or {}
        if config.get("module_address"):
            if not expressions:
                continue  # passed in or inherited: the block is the parent's
            block = _provider_body(_read(expressions), {})
            block["alias"] = _internal_alias(str(key))
        else:
            block = _provider_body(_read(expressions), variables)
            if config.get("alias"):
                block["alias"] = config["alias"]
        found.append(block)
    return found


def _read(expressions: Mapping[str, Any]) -> dict[str, Any]:
    """The provider arguments preflight reads; the others (credentials among them) are not copied."""
    return {k: v for k, v in expressions.items() if k in PROVIDER_ARGUMENTS}


def _provider_body(expressions: Mapping[str, Any], variables: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, expression in expressions.items():
        if isinstance(expression, list):
            written: Any = [_provider_body(e, variables) for e in expression if isinstance(e, Mapping)]
        elif _is_expression(expression):
            written = _provider_value(expression, variables)
            if key == "tags" and not isinstance(written, Mapping):
                written = None  # { Suffix = var.suffix } also refers to one variable only
        elif isinstance(expression, Mapping):
            written = _provider_body(expression, variables)
        else:
            written = None
        if written is not None:
            body[key] = written
    return body


def _provider_value(expression: Mapping[str, Any], variables: Mapping[str, Any]) -> Any:
    """A provider argument's constant, or the value of the one root variable it refers to (a plan does not
    show an expression's text: ``"${var.a}-x"`` looks like ``var.a``, which is what providers write)."""
    if "constant_value" in expression:
        return expression["constant_value"]
    references = [str(r) for r in expression.get("references", []) or []]
    roots = {match.group(0) if (match := _ROOT.match(r)) else r for r in references}
    if len(roots) != 1 or not references:
        return None
    [root] = roots
    if not root.startswith("var.") or root[4:] not in variables:
        return None
    value: Any = variables[root[4:]]
    most = max(references, key=len)  # var.tags["Env"] before var.tags
    for step in _STEP.finditer(most[len(root) :]):
        part: str | int = step.group(1) or (int(step.group(2)) if step.group(2) else step.group(3))
        value = _get(value, part)
    return value
