"""``tenaskit plugins`` and ``tenaskit inspect``: what is installed, and what an architecture costs."""

from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.table import Table

from tenas_kit.cli.common import console, plugin_option


@click.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@plugin_option
def plugins_command(as_json, plugins):
    """List every space, proxy, pruner, executor, preset, data source, dataset and benchmark table, and the plugin
    providing it."""
    from tenas_kit.plugins import KINDS, registry

    reg = registry(plugins)
    if as_json:
        provided = [{"kind": kind, "name": name, "plugin": entry.plugin} for kind in KINDS for name, entry in reg.entries[kind].items()]
        broken = [{"plugin": b.plugin, "origin": b.origin, "reason": b.reason} for b in reg.broken]
        click.echo(json.dumps({"plugins": reg.plugins, "provided": provided, "broken": broken}, indent=2))
        return
    table = Table(title="tenas-kit plugins")
    for column in ("kind", "name", "plugin", "description"):
        table.add_column(column)
    for kind in KINDS:
        for name, entry in reg.entries[kind].items():
            description = str(getattr(entry.obj, "description", ""))
            table.add_row(kind.replace("_", " "), *map(escape, (name, entry.plugin, description)))
    console.print(table)
    if reg.broken:
        broken = Table(title="broken plugins", style="red")
        for column in ("plugin", "origin", "reason"):
            broken.add_column(column)
        for item in reg.broken:
            broken.add_row(*map(escape, (item.plugin, item.origin, item.reason)))
        console.print(broken)


@click.command()
@click.option("--space", default="nb201", show_default=True)
@click.option("--arch", "--genotype", "arch_text", required=True,
              help="Architecture in the space's canonical text form (a DARTS Genotype(...) string for darts).")
@click.option("--dataset", default="cifar10", show_default=True, help="Sets class count and input resolution.")
@plugin_option
def inspect(space, arch_text, dataset, plugins):
    """Parameter count and multiply-adds of an architecture's evaluation network."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tenas_kit.plugins import registry

    reg = registry(plugins)
    space_obj, preset = reg.get("space", space), reg.get("dataset", dataset)
    arch = space_obj.parse(arch_text)
    network = space_obj.network(space_obj.arch_to_mask(arch), "evaluation", preset.num_classes).eval()
    params = sum(p.numel() for name, p in network.named_parameters() if "auxiliary" not in name)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        network(torch.zeros(1, 3, preset.resolution, preset.resolution))
    console.print(f"architecture: {escape(space_obj.format(arch))}", soft_wrap=True)
    console.print(f"parameters: {params:,} ({params / 1e6:.3f} M)")
    console.print(f"multiply-adds: {counter.get_total_flops() // 2:,} ({counter.get_total_flops() / 2e6:.1f} M) at {preset.resolution}x{preset.resolution}")
