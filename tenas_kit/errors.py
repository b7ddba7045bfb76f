"""Errors a user can fix: the CLI prints them as one line and exits with 2."""


class TenasError(Exception):
    """Something the user asked for cannot be done; the message says how to fix it."""


def closest(name, choices):
    """The registered name nearest to a misspelt one, or None."""
    import difflib

    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return found[0] if found else None


def unknown(kind, name, choices):
    hint = closest(name, choices)
    known = ", ".join(sorted(choices)) or "none registered"
    suggestion = f" Did you mean '{hint}'?" if hint else ""
    return TenasError(f"unknown {kind} '{name}'.{suggestion} Known: {known}.")
