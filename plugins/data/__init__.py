"""Built-in image sources and dataset presets for tenas-kit."""

from tenas_kit.hookspecs import hookimpl

from .presets import DATASETS
from .sources import CifarSource, EmbeddedSource, ImageFolderSource, ImageNet16Source, SyntheticSource


@hookimpl
def register_data_sources(register):
    for source in (EmbeddedSource(), SyntheticSource(), CifarSource(), ImageNet16Source(), ImageFolderSource()):
        register(source)


@hookimpl
def register_datasets(register):
    for dataset in DATASETS:
        register(dataset)
