"""Bundled architectures. Importing this package registers every family.

Each family lives in its own module (config table citing the paper, private
builder, one-line registered entry points); modules whose names start with an
underscore hold shared machinery and blocks.
"""

import importlib
import pkgutil

from netstat.zoo._registry import (  # noqa: F401
    ModelSpec,
    Published,
    all_specs,
    call_builder,
    get_model,
    get_spec,
    list_models,
    published_top1,
    register_alias,
    register_model,
    resolve,
)

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
