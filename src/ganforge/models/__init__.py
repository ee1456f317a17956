"""Network families: nn.Modules only (no losses, no optimizers).

Generators and discriminators are registered by architecture name. A builder takes the model config
and the interface sizes that come from the dataset and returns the module:

    G = GENERATORS.get("dcgan")(cfg.model, resolution=32, channels=1, num_classes=0)
    img = G(z, c)          # z [N, z_dim], c [N] int64 or None -> [N, C, H, W] in [-1, 1]
    logits = D(img, c)     # -> [N]
"""

from ganforge.models.base import DISCRIMINATORS, GENERATORS, build_discriminator, build_generator
from ganforge.models import dcgan as _dcgan  # noqa: F401  (registers)
from ganforge.models import resnet as _resnet  # noqa: F401  (registers)
from ganforge.models import biggan as _biggan  # noqa: F401,E402  (registers)

__all__ = ["GENERATORS", "DISCRIMINATORS", "build_generator", "build_discriminator"]
