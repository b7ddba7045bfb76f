"""Checking a registered object against the Protocol of its kind: the one statement of each contract.

A Protocol lists what an object must have: annotated attributes and methods.
An annotated attribute given a default in the Protocol, or a method marked
``@optional``, may be left out; the core falls back as the Protocol documents.
What the members must hold, where a wrong value would fail only later, is a
function its kind's module gives with ``@values(Protocol)``.
"""

from __future__ import annotations

_value_checks = {}  # Protocol -> check(obj) -> problem or None


def optional(method):
    """Mark a Protocol method an object may leave out."""
    method.optional = True
    return method


def values(protocol):
    """Decorate ``check(obj) -> problem or None``, run on every object of ``protocol``'s kind as it loads."""

    def register(check):
        _value_checks[protocol] = check
        return check

    return register


def members(protocol):
    """``(required, optional)`` member names of a Protocol (or a dataclass used as one)."""
    required, optional_ = [], []
    body = vars(protocol)
    for name in body.get("__annotations__", {}):
        (optional_ if name in body else required).append(name)
    for name, value in body.items():
        if callable(value) and not name.startswith("_"):
            (optional_ if getattr(value, "optional", False) else required).append(name)
    return required, optional_


def methods(protocol):
    return {name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_")}


def problem(obj, kind, protocol):
    """Why ``obj`` breaks the contract of ``protocol``, or None."""
    where = f"{protocol.__module__}.{protocol.__name__}"
    required, _ = members(protocol)
    missing = [name for name in required if not hasattr(obj, name)]
    if missing:
        return f"registered a {kind} {short(obj)} without {', '.join(missing)} (the contract: {where})"
    if not isinstance(obj.name, str) or not obj.name:
        return f"registered a {kind} whose name is not a non-empty string"
    uncallable = [name for name in methods(protocol) if hasattr(obj, name) and not callable(getattr(obj, name))]
    if uncallable:
        return f"{kind} '{obj.name}': {', '.join(uncallable)} must be callable (the contract: {where})"
    options = getattr(obj, "cli_options", ())
    if not all(hasattr(option, "name") and hasattr(option, "opts") for option in options):
        return f"{kind} '{obj.name}': cli_options must be a list of click.Option"
    check = _value_checks.get(protocol)
    return check(obj) if check else None


def short(obj):
    """An object's repr, cut to fit in a one-line message."""
    text = repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."
