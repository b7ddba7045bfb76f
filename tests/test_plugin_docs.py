"""What the docs tell plugin authors agrees with the code (issue 23): the example, options, networks, counts."""

import re

import pytest

from conftest import ROOT

DOCS = ROOT / "docs"
EXAMPLE = ROOT / "plugins" / "examples" / "tenaskit-example-proxy"


def block(page, first_line, language="python"):
    """The fenced block of ``page`` whose first line is ``first_line``, without that line."""
    for text in re.findall(rf"```{language}\n(.*?)```", (DOCS / page).read_text(), re.S):
        if text.startswith(first_line + "\n"):
            return text[len(first_line) + 1:]
    raise AssertionError(f"docs/{page} has no {language} block starting {first_line!r}")


def test_the_documented_example_package_is_the_example_package():
    """What docs/plugins.md shows of the example is its files, so a reader can copy it and it runs."""
    proxy = block("plugins.md", "# tenaskit_example_proxy/__init__.py (its command, register_commands, left out)")
    assert proxy in (EXAMPLE / "tenaskit_example_proxy" / "__init__.py").read_text()
    project = block("plugins.md", "# pyproject.toml: the entry point in the group `tenaskit` is what makes it a plugin",
                    "toml")
    assert project == (EXAMPLE / "pyproject.toml").read_text()
    assert block("plugins.md", "# tests/test_weightnorm.py") == (EXAMPLE / "tests" / "test_weightnorm.py").read_text()


def says_a_space_adds_options(text):
    """Sentences of ``text`` that list a space among the plugins adding or showing options."""
    sentences = re.split(r"(?<=[.;])\s+", " ".join(text.split()))
    return [s for s in sentences if re.search(r"option", s, re.I) and re.search(r"\b(adds?|shows?)\b", s)
            and re.search(r"\bspaces?, (?:a |the )?prox", s, re.I)]


def test_nothing_says_a_space_adds_options(capsys):
    """The commands show the options of proxies, pruners and executors only (cli.common.USES); a space has none."""
    from conftest import call
    from tenas_kit.cli.common import USES

    assert all("space" not in kinds for kinds in USES.values())
    texts = {page: (DOCS / page).read_text() for page in ("plugins.md", "cli.md", "concepts.md", "ranking.md")}
    for command in ("run", "rank"):
        texts[f"{command} --help"] = call(capsys, command, "--help")[1]
    for where, text in texts.items():
        assert says_a_space_adds_options(text) == [], f"{where} lists a space among the plugins adding options"


def documented_options(page, heading_pattern):
    """``--names`` in the first column of the option tables under the section matching ``heading_pattern``."""
    text = (DOCS / page).read_text()
    section = re.search(heading_pattern + r"\n(.*?)(?=\n## |\Z)", text, re.S).group(1)
    return set(re.findall(r"^\| `(--[a-z-]+)", section, re.M))


@pytest.mark.parametrize("command", ["rank", "correlate", "merge"])
def test_rankings_option_tables_hold_every_option_of_the_command(command):
    """docs/cli.md sends readers of rank, correlate and merge to docs/ranking.md; its tables must be whole."""
    from tenas_kit import plugins
    from tenas_kit.cli import cli

    declared = {o.name for kind in ("proxy", "pruner", "executor") for obj in plugins.registry().all(kind)
                for o in getattr(obj, "cli_options", ())}
    core = {p.opts[0] for p in cli.commands[command].params
            if p.name not in declared and p.opts[0].startswith("--")} - {"--help"}
    assert core - documented_options("ranking.md", "## Options") == set()


def test_concepts_counts_and_names_the_built_in_proxies(registry):
    builtin = [name for name, entry in registry.entries["proxy"].items()
               if registry.plugins[entry.plugin].startswith("entry point tenaskit: ")
               and "tenaskit_builtins." in registry.plugins[entry.plugin]]
    text = " ".join((DOCS / "concepts.md").read_text().split())
    assert f"Besides `ntk` and `regions`, {len(builtin) - 2} proxies ship as plugins" in text
    assert [name for name in builtin if f"`{name}`" not in text] == []


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
@pytest.mark.parametrize("role, channels", [("supernet", 3), ("thin", 1)])
def test_a_built_in_network_returns_the_logits(registry, space_name, role, channels):
    """docs/plugins.md: ``network(x)`` returns one tensor, the logits, shape (n, num_classes)."""
    import torch

    space = registry.get("space", space_name)
    network = space.network(space.layout.full_mask(), role, 7, in_channels=channels)
    out = network(torch.randn(2, channels, 8, 8))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 7)
