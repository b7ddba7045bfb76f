"""DARTS search space (NASNet-style normal and reduction cells) for tenas-kit.

Mask: 2 cell types ("normal", "reduce") x 14 edges ("k<-j": node k = 2..5 from
node j < k; nodes 0 and 1 are the cell inputs) x 8 ops in DARTS order. A final
architecture keeps 2 input edges per node (``layout.edge_groups``), one op each.

Network roles:
- ``supernet`` (kappa_N): C=1, stem multiplier 1, a normal then a reduction cell.
- ``thin`` (R_N): the same without a stem, on the raw (1-channel 3x3) input.
- ``evaluation``: DARTS's NetworkCIFAR (C=36, 20 cells, auxiliary head) for a
  genotype mask, or NetworkImageNet (C=48, 14 cells, ImageNet stems) when
  ``num_classes == 1000`` (ImageNet-1k is the only 1000-class dataset), so
  ``tenaskit inspect --dataset imagenet`` sizes the ImageNet network.
  ``evaluation-cifar`` and ``evaluation-imagenet`` choose explicitly.
"""

from tenas_kit.cellgraph import graph_features, op_features
from tenas_kit.errors import TenasError
from tenas_kit.hookspecs import hookimpl
from tenas_kit.space import ZERO, Layout

from . import arch as genotypes
from .layout import CELL_TYPES, EDGES, INPUTS, NODE_EDGES, NODES, OPS

# Groups of ops whose paths GRAF's features count; "concat" joins the intermediate nodes to the cell's output.
CONVS = {"sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"}
POOLS = {"max_pool_3x3", "avg_pool_3x3"}
GROUPS = {**{op: {op} for op in OPS if op != ZERO}, "conv": CONVS, "pool": POOLS,
          "parameter_free": POOLS | {"skip_connect"}, "any": set(OPS) - {ZERO}}
OUTPUT = NODES[-1] + 1

ROLES = ("supernet", "thin", "evaluation", "evaluation-cifar", "evaluation-imagenet")


class Darts:
    name = "darts"
    description = "DARTS: normal and reduction cells, 14 edges each, 8 ops, 2 input edges kept per node"
    layout = Layout(
        cell_types=CELL_TYPES,
        edges=tuple(f"{k}<-{j}" for k, j in EDGES),
        ops=OPS,
        edge_groups=tuple((edges, genotypes.KEEP) for edges in NODE_EDGES.values()),
    )

    # Reference TE-NAS settings for the networks scored during search.
    search_channels, search_stem_multiplier = 1, 1

    def defaults(self, dataset):
        # TE-NAS reference: batch 24 and 2 ops pruned per round on ImageNet, 14 and 3 otherwise.
        # Zero-cost proxies score the search network: the evaluation network holds one genotype, not the
        # supernets a search measures (--proxy-network evaluation still chooses it for a ranking).
        sizes = {"batch_size": 24, "prune_number": 2} if dataset == "imagenet" else {"batch_size": 14, "prune_number": 3}
        return {**sizes, "proxy_network": "supernet", "recipe": "darts"}

    def network(self, mask, role, num_classes, in_channels=3):
        # torch: only once a network is built
        from .evaluation import NetworkCIFAR, NetworkImageNet
        from .network import SearchNetwork

        if role == "supernet":
            return SearchNetwork(mask, self.search_channels, num_classes, in_channels, True, self.search_stem_multiplier)
        if role == "thin":
            return SearchNetwork(mask, self.search_channels, num_classes, in_channels, stem=False)
        if role not in ROLES:
            raise TenasError(f"space darts has no '{role}' network; roles: {', '.join(ROLES)}.")
        self.mask_to_arch(mask)  # an evaluation network needs a genotype: fail with the reason
        if role == "evaluation-imagenet" or (role == "evaluation" and num_classes == 1000):
            return NetworkImageNet(mask, num_classes, in_channels=in_channels)
        return NetworkCIFAR(mask, num_classes, in_channels=in_channels)

    def train_network(self, arch, num_classes, channels=0, cells=0, in_channels=3):
        """DARTS's evaluation network of a genotype, with drop path and its auxiliary head: NetworkCIFAR
        (C=36, 20 cells unless given), NetworkImageNet (C=48, 14 cells) for 1000 classes, as ``evaluation``."""
        from .evaluation import NetworkCIFAR, NetworkImageNet

        mask = self.arch_to_mask(arch)
        if num_classes == 1000:
            return NetworkImageNet(mask, num_classes, channels or 48, cells or 14, in_channels)
        return NetworkCIFAR(mask, num_classes, channels or 36, cells or 20, in_channels)

    def parse(self, text):
        return genotypes.parse(text)

    def format(self, arch):
        return genotypes.format(arch)

    def sample(self, rng):
        return genotypes.sample(rng)

    def canonical(self, arch):
        return genotypes.canonical(arch)

    def representative(self, arch):
        return genotypes.representative(arch)

    def features(self, arch):
        """GRAF's features of each cell type (``tenas_kit.cellgraph``): inputs nodes 0 and 1, the output the
        concatenation of nodes 2-5."""
        mask, features = genotypes.to_mask(arch), {}
        for c, cell in enumerate(CELL_TYPES):
            held = [OPS[mask[c, e].argmax()] if mask[c, e].any() else ZERO for e in range(len(EDGES))]
            edges = [(k, j, op) for (k, j), op in zip(EDGES, held) if op != ZERO]
            edges += [(OUTPUT, k, "concat") for k in NODES]
            groups = {name: ops | {"concat"} for name, ops in GROUPS.items()}
            features.update(op_features(zip(self.layout.edges, held), OPS, f"{cell}/"))
            features.update(graph_features(edges, tuple(range(INPUTS)), OUTPUT, groups, f"{cell}/"))
        return features

    def neighbours(self, arch):
        return genotypes.neighbours(arch)

    def to_json(self, arch):
        """DARTS's Genotype fields, pairs as [op, input] lists."""
        return {field: [list(item) if isinstance(item, tuple) else item for item in value]
                for field, value in arch._asdict().items()}

    def arch_to_mask(self, arch):
        return genotypes.to_mask(arch)

    def mask_to_arch(self, mask):
        return genotypes.from_mask(mask)


@hookimpl
def register_spaces(register):
    register(Darts())
