"""tenas-kit: training-free neural architecture search (TE-NAS) with pluggable spaces, proxies and policies."""

__version__ = "0.1.0"

from tenas_kit.engine import SearchConfig  # noqa: E402
from tenas_kit.errors import TenasError  # noqa: E402


def search(config=None, out=None, plugins=(), reporter=None, workers=None, **overrides):
    """Run a TE-NAS search and return ``(architecture_string, run_path_or_None)``.

    ``config`` is a SearchConfig; keyword overrides set its fields, e.g.
    ``search(space="nb201", data="path/to/images", seed=1)``. ``workers``
    processes score candidates (default: one per CPU core; results do not
    depend on it).
    """
    from tenas_kit import engine
    from tenas_kit.plugins import registry
    from tenas_kit.runfile import RunFile
    from tenas_kit.workers import default_workers

    config = config or SearchConfig()
    for key, value in overrides.items():
        setattr(config, key, value)
    plan = engine.plan(registry(plugins), config)
    run = None
    if out is not None:
        run = RunFile.open(out, config.as_dict(), settings_of(plan), plan.images.description)
    try:
        workers = workers or default_workers(plan.device)
        arch, _, _ = engine.search(plan, config, run, reporter, workers, plugins)
    finally:
        if run is not None:
            run.close()
    return arch, out


def settings_of(plan):
    """Every plugin's resolved settings, as recorded in a run file."""
    return {
        "space": plan.space.name,
        "proxies": {p.name: s for p, _, s in plan.proxies},
        "pruner": {plan.pruner.name: plan.pruner_settings},
        "dataset": plan.dataset.name,
        "device": str(plan.device),
    }


__all__ = ["SearchConfig", "TenasError", "search", "settings_of", "__version__"]
