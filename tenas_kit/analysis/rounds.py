"""What one round of a read run file (``runfile.read``) says, as the figures and the report show it."""

from __future__ import annotations

import numpy as np


def candidate_means(rnd, name):
    """Each candidate's value of proxy ``name``: stored per repeat, shown as the mean the pruner ranked."""
    return np.asarray(rnd["proxies"][name]["values"], float).reshape(-1, len(rnd["labels"])).mean(axis=0)


def pruned_flags(rnd):
    """Which candidates the round pruned: the run file records them by label (format 2); a version-1 file
    has only the pruner's own columns, whose one boolean column marks them (None if it has none)."""
    if rnd.get("pruned") is not None:
        pruned = set(rnd["pruned"])
        return np.array([label in pruned for label in rnd["labels"]])
    return next((np.asarray(c) for c in rnd["columns"].values() if np.asarray(c).dtype == bool), None)
