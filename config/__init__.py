"""Domain configuration shipped with akhbar: index template, feeds, gazetteers, Kibana objects."""

from importlib import resources
from pathlib import Path


def config_path(name: str) -> Path:
    """Path of a file shipped under ``config/`` (works from a checkout and from an installed wheel)."""
    return Path(str(resources.files(__name__).joinpath(name)))
