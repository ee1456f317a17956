"""ganforge: train, evaluate and use generative adversarial networks.

Public API::

    import ganforge
    cfg = ganforge.get_preset("dcgan-fmnist32")
    result = ganforge.train(cfg, out="runs")
    G = ganforge.load_generator(result.run_dir)
"""

from ganforge.version import __version__  # noqa: E402
from ganforge import moved  # noqa: E402

moved.install()  # old module paths (ganforge.models.*, ganforge.recipes.*, ...) still import, with a warning

from ganforge import families  # noqa: E402,F401  (registers the built-in families, recipes and presets)

from ganforge.api import get_preset, list_presets, load_generator, train  # noqa: E402
from ganforge.errors import GanforgeError  # noqa: E402

__all__ = ["train", "load_generator", "list_presets", "get_preset", "GanforgeError", "__version__"]
