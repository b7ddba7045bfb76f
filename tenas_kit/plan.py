"""What a search or a ranking will run: the settings a user gives, and everything looked up from them.

A plan is made before any work starts, so an unknown name, a bad value or
unreadable data fails at once. Each plugin receives only the options it
declares (its ``cli_options``) plus the options every proxy shares (``init``),
so one plugin's option can neither reach another nor leak into a run's settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tenas_kit.errors import TenasError

# Options of the core that every proxy reads: how the scored networks are initialised.
SHARED_OPTIONS = ("init",)


@dataclass
class SearchConfig:
    """What changes a result. How the work is spread (``executor``, ``executor_options``) does not, so it
    is kept out of ``as_dict``, the form recorded in run files and hashed into their default names."""

    space: str = "nb201"
    proxies: list = field(default_factory=lambda: [("ntk", 1.0), ("regions", 1.0)])
    pruner: str | None = "tenas"
    data: str = "embedded"
    dataset: str = "cifar10"
    seed: int = 0
    device: str = "auto"
    repeats: int = 3
    options: dict = field(default_factory=dict)  # option name -> value, for the plugins that declare them
    executor: str = "process"
    executor_options: dict = field(default_factory=dict)
    combine: str = "rank_sum"  # how proxies' ranks combine: a rule of tenas_kit.preset.RULES or a preset's name

    def as_dict(self):
        recorded = {
            "space": self.space, "proxies": [[n, w] for n, w in self.proxies], "pruner": self.pruner,
            "data": self.data, "dataset": self.dataset, "seed": self.seed, "repeats": self.repeats,
            # ``init`` is written out even at its default, so that a run named by the API and one named by the
            # command (which always passes it) get the same settings and the same file.
            "options": {k: v for k, v in sorted({"init": "pytorch", **self.options}.items()) if v is not None},
        }
        if self.combine != "rank_sum":  # TE-NAS's rule is left implicit, so earlier runs keep their settings
            recorded["combine"] = self.combine
        return recorded

    @classmethod
    def from_dict(cls, recorded, device="auto"):
        """The config ``as_dict`` recorded (a job's payload, a run file's attribute)."""
        fields = dict(recorded)
        fields["proxies"] = [(name, weight) for name, weight in fields["proxies"]]
        return cls(device=device, **fields)


@dataclass
class Plan:
    space: Any
    proxies: list  # [(proxy, weight, settings)]
    pruner: Any  # None for a ranking
    pruner_settings: dict
    dataset: Any
    images: Any
    device: Any  # torch.device
    combine: Any = None  # the rule: (ranks per proxy, weights) -> one number per item, lower is better


def resolve_device(name):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TenasError("--device cuda asked for, but PyTorch sees no CUDA device; use --device cpu or auto.")
    if name not in ("cpu", "cuda"):
        raise TenasError(f"unknown device '{name}'; use auto, cpu or cuda.")
    return torch.device(name)


def declared(obj):
    """Names of the options a plugin object declares."""
    return {option.name for option in getattr(obj, "cli_options", ())}


def own_options(obj, options):
    """The part of ``options`` a plugin object may read."""
    names = declared(obj) | set(SHARED_OPTIONS)
    return {k: v for k, v in options.items() if k in names}


def check_owned(options, users):
    """Every option set must belong to a plugin this command uses (otherwise it would be ignored silently),
    and hold a value its flag would take."""
    from tenas_kit.arguments import check_option, label

    owned = {option.name: option for obj in reversed(users) for option in getattr(obj, "cli_options", ())}
    for name, value in options.items():
        if value is None or name in SHARED_OPTIONS:
            continue
        if name not in owned:
            raise TenasError(f"{label(name)} belongs to no proxy or pruner this command uses; leave it out or "
                             f"add the plugin that declares it (tenaskit plugins lists them).")
        check_option(owned[name], value)


def require_config(config):
    from tenas_kit.arguments import refuse

    if not isinstance(config, SearchConfig):
        raise refuse("config", config, "a SearchConfig, or None and the settings as keywords, e.g. space='nb201'")


def plan(registry, config, open_data=True):
    """Look everything up and open the data before any work starts, so bad input fails fast."""
    from tenas_kit.arguments import check_config
    from tenas_kit.data import open_images

    require_config(config)
    check_config(config)
    space = registry.get("space", config.space)
    pruner = registry.get("pruner", config.pruner) if config.pruner else None
    dataset = registry.get("dataset", config.dataset)
    proxies = [(registry.get("proxy", name), weight) for name, weight in config.proxies]
    check_owned(config.options, [*(p for p, _ in proxies), *([pruner] if pruner else [])])
    device = resolve_device(config.device)
    images = open_images(registry, config.data, dataset) if open_data else None
    defaults = space.defaults(dataset.name)
    settings = [(p, w, p.settings(own_options(p, config.options), defaults)) for p, w in proxies]
    combine = combination_rule(registry, config.combine)
    pruner_options = own_options(pruner, config.options) if pruner else {}
    if config.combine != "rank_sum":
        pruner_options["combine"] = config.combine
    pruner_options["seed"] = config.seed  # for a policy that samples; a pruner records only what it reads
    pruner_settings = pruner.settings(pruner_options, defaults) if pruner else {}
    return Plan(space, settings, pruner, pruner_settings, dataset, images, device, combine)


def combination_rule(registry, name):
    """A rule of tenas_kit.preset.RULES, or the callable rule of the preset of that name."""
    from tenas_kit.preset import RULES, rule_of

    if name not in RULES and name in registry.names("preset") and callable(registry.get("preset", name).combine):
        return registry.get("preset", name).combine
    return rule_of(name)


def apply_preset(registry, config, name, given=()):
    """``--preset NAME`` (``preset=NAME``): the preset's proxies, weights and rule; its option values and
    repeats unless the user gave them (``given`` names the settings the user gave)."""
    from tenas_kit.arguments import check_proxies, text

    if "proxies" in given:
        raise TenasError("give --proxies or --preset, not both: a preset names its own proxies.")
    text("preset", name, "best")
    preset = registry.get("preset", name)
    proxies = list(getattr(preset, "proxies", ()))
    if not proxies:
        raise TenasError(f"preset '{name}' lists no proxies as [(name, positive weight)]; fix its plugin.")
    check_proxies(proxies, preset=name)
    config.proxies = [(n, float(w)) for n, w in proxies]
    combine = getattr(preset, "combine", "rank_sum")
    config.combine = preset.name if callable(combine) else combine
    config.options = {**getattr(preset, "options", {}), **{k: v for k, v in config.options.items() if v is not None}}
    repeats = getattr(preset, "repeats", None)
    if repeats is not None and "repeats" not in given:
        if not isinstance(repeats, int) or repeats < 1:
            raise TenasError(f"preset '{name}' asks for {repeats!r} repeats; fix its plugin (a positive integer).")
        config.repeats = repeats
    return config


def settings_of(plan):
    """Every plugin's resolved settings, as recorded in a run file."""
    out = {"space": plan.space.name, "proxies": {p.name: s for p, _, s in plan.proxies}}
    if plan.pruner is not None:
        out["pruner"] = {plan.pruner.name: plan.pruner_settings}
    out.update(dataset=plan.dataset.name, device=str(plan.device))
    return out
