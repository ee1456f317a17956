"""The recipe interface every family implements, and what the trainer hands it.

A recipe owns a family's networks, optimizers and training-time state and gives the trainer a list of
``Phase`` objects; the trainer knows no model. Families register their recipe classes through
``ganforge.registry.register_family``; this module names no family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ganforge.config import Experiment
from ganforge.errors import GanforgeError
from ganforge.training.batch import Batch

__all__ = ["Batch", "DatasetInfo", "LossFn", "Phase", "Recipe", "RunContext", "StepContext"]


@dataclass(frozen=True)
class DatasetInfo:
    """The dataset's interface sizes as the recipe sees them (classes only when labels are used)."""

    resolution: int
    channels: int
    num_classes: int
    class_names: tuple[str, ...]
    # Translation data only: channels of domain A, and whether A and B come in pairs (None otherwise).
    channels_a: int | None = None
    paired: bool | None = None

    @classmethod
    def of(cls, ds: Any, cfg: Experiment) -> "DatasetInfo":
        use = cfg.data.use_labels and ds.labels is not None
        return cls(ds.resolution, ds.channels, ds.num_classes if use else 0,
                   tuple(ds.class_names) if use else (),
                   getattr(ds, "channels_a", None), getattr(ds, "paired", None))

    @property
    def is_translation(self) -> bool:
        return self.paired is not None


@dataclass(frozen=True)
class StepContext:
    """Where training stands, handed to the recipe before every step (``Recipe.begin_step``).

    Schedules that depend on progress (fade-in alpha, level of detail, learning-rate decay, ADA's p)
    are pure functions of these numbers, so a resumed run continues exactly where it stopped and the
    trainer needs to know nothing about them.

    cur_nimg: images shown to G before this step; step: steps done before this one; batch_size: the
    global batch (images per step); total_nimg: the run's planned length in images.
    """

    cur_nimg: int
    step: int
    batch_size: int
    total_nimg: int


@dataclass(frozen=True)
class RunContext:
    """Where a recipe runs, given to it when it is built (the trainer makes one per process).

    device: the training device; rng: the generator of every random draw of training, seeded alike on
    every rank; rank / world_size: this process among the data-parallel ones; local_batch_size: this
    process's share of ``train.batch_size`` (None: all of it); augment: D's augmentation
    (``ganforge.augment.Augment``) when ``augment.kind`` is set, else None.
    """

    device: torch.device
    rng: torch.Generator
    rank: int = 0
    world_size: int = 1
    local_batch_size: int | None = None
    augment: Any = None

    @classmethod
    def single(cls, device: str | torch.device = "cpu", seed: int = 0, **kw: Any) -> RunContext:
        """One process on ``device`` with a fresh generator seeded ``seed`` (tests, dry runs)."""
        device = torch.device(device)
        return cls(device, torch.Generator(device=device).manual_seed(seed), **kw)


LossFn = Callable[[Batch | None], tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass
class Phase:
    """One optimisation phase of a training step.

    name: label for logs ("D", "G"); module: the network whose parameters this phase updates;
    optimizer: its optimizer; loss: batch -> (total loss, {term name: value}); repeats: times per step
    (n_critic); interval: run only every ``interval`` steps (lazy regularisation); needs_reals: fetch
    a fresh real batch for each repeat (else the loss gets None); after_step: called after each
    successful optimizer step (e.g. WGAN weight clipping).
    """

    name: str
    module: nn.Module
    optimizer: torch.optim.Optimizer
    loss: LossFn
    repeats: int = 1
    interval: int = 1
    needs_reals: bool = True
    after_step: Callable[[], None] | None = None


class Recipe:
    """Base class. Subclasses set ``nets``, ``optimizers``, ``ema_sources`` and implement ``phases``.

    ``nets``: trained networks by name ("G", "D"); ``fwd``: the callables used in the losses (the
    trainer may replace them with ``torch.compile`` wrappers; the modules in ``nets`` stay the ones
    whose state is saved); ``ema_sources``: EMA copy name -> source net name, e.g. {"G_ema": "G"};
    ``generator``: name of the net that generates samples when there is no EMA.
    """

    generator: str = "G"
    # The family that registered this recipe (set by ``ganforge.registry.register_family``).
    family: str = ""
    # True when the training step is the same code every step, with no host decision between steps, so
    # ``train.cuda_graph`` may capture it (``ganforge.training.graphed``).
    graphable: bool = False
    # True for image-to-image translation families (their nets take images; pair_* metrics apply).
    translates: bool = False
    # The dataclass types of this family's config sections ("model", "loss"); see ganforge.config.
    config_sections: dict[str, type] = {}
    # One type/choice/range rule (ganforge.validation) per key of those sections, e.g. "model.z_dim".
    config_rules: dict[str, Any] = {}

    def __init__(self, cfg: Experiment, dataset_info: Any, run: RunContext):
        self.cfg, self.info, self.run = cfg, dataset_info, run
        self.device, self.rng = run.device, run.rng
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.ema_sources: dict[str, str] = {}
        self.fwd: dict[str, Callable[..., torch.Tensor]] = {}
        # This process's place among the data-parallel ranks and its share of the global batch: per-sample
        # draws are made for the whole global batch and sliced, so N ranks draw what one process would.
        self.rank, self.world_size = run.rank, run.world_size
        self.local_batch_size = run.local_batch_size or cfg.train.batch_size
        self.ctx = StepContext(0, 0, cfg.train.batch_size, int(round(cfg.train.total_kimg * 1000)))
        # What D sees is augmented when ``augment.kind`` is set (a ``ganforge.augment.Augment``); recipes
        # pass every D input through ``aug``.
        self.augment: Callable[[torch.Tensor], torch.Tensor] | None = run.augment

    # -- class-level hooks: what the trainer, the CLI and the docs ask a family without building it --

    @classmethod
    def validate_config(cls, cfg: Experiment) -> None:
        """Rules between fields that ``config_rules`` (one field at a time) cannot express; raise a
        GanforgeError naming the keys. Runs after every field passed its own rule."""

    @classmethod
    def summary(cls, cfg: Experiment) -> tuple[str, str]:
        """(networks, objective) in a few words, for the presets table and docs."""
        return cfg.recipe, cfg.recipe

    @classmethod
    def critic_steps(cls, cfg: Experiment) -> int:
        """Discriminator updates per generator update (n_critic), for the presets table."""
        return 1

    @classmethod
    def describe_model(cls, model_cfg: Any, meta: dict[str, Any]) -> tuple[str, int]:
        """(architecture name, z_dim) of an export's model section, for messages about that export."""
        return str(meta.get("arch") or meta.get("recipe", "gan")), 0

    def export_arch(self, net: nn.Module) -> str:
        """The architecture name an export of ``net`` records (``model.json``'s "arch")."""
        return self.cfg.recipe

    @classmethod
    def build_generator(cls, model_cfg: Any, resolution: int, channels: int, num_classes: int) -> nn.Module:
        """The family's generator for a model section and the dataset's interface sizes (used to
        rebuild exported generators)."""
        raise NotImplementedError

    # -- helpers shared by the G/D families --

    def check_image_data(self) -> None:
        """Families that generate from noise train on an image set, not on a translation task."""
        if self.info.is_translation:
            raise GanforgeError(f"recipe {self.cfg.recipe!r} generates images from noise but data.name="
                                f"{self.cfg.data.name!r} is an image-to-image translation task; train it with "
                                f"recipe pix2pix (paired) or cyclegan, or give an image dataset")

    def check_labels(self, conditional: bool) -> None:
        """A conditional model needs a labelled dataset (the data config's own check covers the CLI;
        this one covers datasets handed to ``ganforge.train`` directly). Also refuses translation data."""
        self.check_image_data()
        if conditional and self.info.num_classes == 0:
            raise GanforgeError("model.conditional=true needs class labels: set data.use_labels=true "
                                "and use a labelled dataset (built-in, or sub-folders as classes)")

    def require_power_of_two_resolution(self) -> int:
        """The dataset's resolution, which networks that double it per block need as 2^k >= 4."""
        r = self.info.resolution
        if r < 4 or r & (r - 1):
            raise GanforgeError(f"recipe {self.cfg.recipe} needs a power-of-two resolution >= 4, got {r} "
                                f"(set data.resolution, e.g. 32, 64, 256)")
        return r

    def adopt(self, G: nn.Module, D: nn.Module, optimizers: dict[str, torch.optim.Optimizer]) -> None:
        """Register a generator/discriminator pair (already on the device) and their optimizers: the
        nets the trainer saves, the callables the losses use, the EMA of G when the config asks for
        one, and the latent/label sizes ``sample_z`` / ``sample_c`` draw."""
        self.G, self.D = G, D
        self.nets = {"G": G, "D": D}
        self.fwd = {"G": G, "D": D}
        self.optimizers = optimizers
        if self.cfg.train.ema_halflife_kimg is not None:
            self.ema_sources = {"G_ema": "G"}
        self.num_classes = int(G.num_classes)
        self.z_dim = int(G.z_dim)

    def aug(self, x: torch.Tensor) -> torch.Tensor:
        """D's view of images ``x`` (reals, fakes, penalty inputs): augmented when the run asks for it.
        Recipes report ``logit_stats`` from their D phase; ADA reads ``D/real_sign`` there."""
        return self.augment(x) if self.augment is not None else x

    @staticmethod
    def logit_stats(real_logits: torch.Tensor, gen_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """What every D phase reports besides its loss terms (not added to the loss): mean logits on
        reals and fakes, and ``D/real_sign`` = E[sign D(real)], ADA's overfitting measure."""
        real = real_logits.detach()
        return {"D/real_logit": real.mean(), "D/gen_logit": gen_logits.detach().mean(),
                "D/real_sign": real.sign().mean()}

    def _rank_slice(self, draw: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
        """This rank's ``n`` rows of ``draw(n * world_size)`` (every rank's stream is seeded alike)."""
        if self.world_size == 1:
            return draw(n)
        return draw(n * self.world_size)[self.rank * n:(self.rank + 1) * n]

    def sample_z(self, n: int) -> torch.Tensor:
        """z [n, z_dim] ~ N(0, I) from the trainer's generator (this rank's slice of the global batch)."""
        return self._rank_slice(lambda t: torch.randn(t, self.z_dim, device=self.device, generator=self.rng), n)

    def sample_c(self, n: int) -> torch.Tensor | None:
        """Uniform labels [n] for conditional models, None otherwise."""
        if self.num_classes == 0:
            return None
        return self._rank_slice(
            lambda t: torch.randint(0, self.num_classes, (t,), device=self.device, generator=self.rng), n)

    def sample_uniform(self, n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """U[0, 1) [n, 1, 1, 1] per sample (WGAN-GP's interpolation weights), rank-sliced like z."""
        return self._rank_slice(
            lambda t: torch.rand(t, 1, 1, 1, device=self.device, dtype=dtype, generator=self.rng), n)

    # -- what the trainer asks the family about its sampling network (grids, snapshots, exports, metrics);
    #    the defaults are for generators G(z [N, z_dim], c [N] | None) with ``z_dim``/``num_classes`` --

    def attach_data(self, dataset: Any, from_config: bool = True) -> None:
        """Called once by the trainer with the training dataset (translation recipes keep preview and
        evaluation images from it); ``from_config``: it was loaded from ``cfg.data`` (not handed in)."""

    def grid_inputs(self, n: int, seed: int) -> Any:
        """The fixed inputs of the tick grids (CPU tensors), drawn once per run from ``seed``."""
        net = self.nets[self.generator]
        z = torch.randn(n, net.z_dim, generator=torch.Generator().manual_seed(seed))
        c = (torch.arange(n) % net.num_classes) if net.num_classes else None
        return z, c

    @torch.no_grad()
    def render_grid(self, net: nn.Module, inputs: Any) -> tuple[torch.Tensor, int | None]:
        """(uint8 images [N, C, H, W], columns or None for a square grid) of ``net`` on ``inputs``."""
        from ganforge.images import to_uint8

        z, c = inputs
        imgs = []
        for i in range(0, len(z), 256):
            ci = c[i:i + 256].to(self.device) if c is not None else None
            imgs.append(to_uint8(net(z[i:i + 256].to(self.device), ci)).cpu())
        return torch.cat(imgs), None

    def snapshot_inputs(self, net: nn.Module, n: int, generator: torch.Generator) -> Callable[[int], tuple]:
        """Batch i -> the arguments of ``net`` for re-estimating batchnorm statistics of a snapshot."""

        def inputs(_i: int):
            z = torch.randn(n, net.z_dim, device=self.device, generator=generator)
            c = (torch.randint(0, net.num_classes, (n,), device=self.device, generator=generator)
                 if net.num_classes else None)
            return z, c

        return inputs

    def export_interface(self, net: nn.Module) -> dict[str, Any]:
        """The interface part of an export's metadata (beside recipe, model, resolution, channels)."""
        return {"num_classes": net.num_classes,
                "class_names": list(self.info.class_names) if net.num_classes else [],
                "z_dim": net.z_dim}

    def evaluate(self, names: list[str], net: nn.Module, dataset: Any, **kw: Any) -> list[Any]:
        """Metric records for ``net`` (``ganforge.metrics.compute`` keywords in ``kw``)."""
        from ganforge.metrics import compute

        return compute(names, net, dataset, **kw)

    # -- per-run hooks --

    def begin_step(self, ctx: StepContext) -> None:
        """Called by the trainer before each step (and once after construction/resume)."""
        self.ctx = ctx

    def phases(self) -> list[Phase]:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Training-time state beyond nets and optimizers (none by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

