"""Intra-class FID, the named metric ``ifid{N}k``.

Miyato & Koyama (2018), "cGANs with Projection Discriminator", ICLR: for each class k, the FID of N
images generated with label k against the reference images of class k; the value is the mean over
classes, and ``details["per_class"]`` holds each class's FID. It needs a class-conditional generator
and reference data labelled with the generator's classes, at least 2 images of each (refused before
any work otherwise). Each class's latents come from a stream of their own (``generation.class_latents``)
and each class's reference statistics are cached on their own.
"""

from __future__ import annotations

import numpy as np
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.base import Metric, MetricValue, Needs, register_metric
from ganforge.metrics.fid import feature_stats, fid_from_stats


def class_names(names, k: int) -> list[str]:
    """Names of the k classes for records: ``names`` when there are k distinct ones, else the indices as
    strings."""
    names = [str(x) for x in (names or ())]
    return names if len(names) == k and len(set(names)) == k else [str(i) for i in range(k)]


def dataset_num_classes(dataset) -> int:
    names = getattr(dataset, "class_names", None)
    if names:
        return len(names)
    labels = torch.as_tensor(dataset.labels)
    return int(labels.max()) + 1 if labels.numel() else 0


class IntraFID(Metric):
    kind, form, pattern, example = "ifid", "ifid{N}k", r"ifid(?P<n>\d+)k", "ifid1k"
    needs = Needs(generated="features", real="stats", per_class=True)

    def generated_needed(self, pm, inputs, available: int | None = None) -> int:
        return pm.n * inputs.num_classes  # N of every class

    def check_generator(self, pm, G, dataset) -> None:
        from ganforge.metrics.generation import check_generator

        check_generator(G)
        k_g = int(G.num_classes or 0)
        data_name = getattr(dataset, "name", "")
        if k_g <= 0:
            raise GanforgeError(f"metric {pm.name!r} (intra-class FID) needs a class-conditional generator, but "
                                f"{type(G).__name__} is unconditional (num_classes 0); use {pm.name[1:]!r} instead")
        if getattr(dataset, "labels", None) is None:
            raise GanforgeError(f"metric {pm.name!r} (intra-class FID) compares every class with the reference "
                                f"images of that class, but the reference data {data_name!r} has no class labels; "
                                f"evaluate against labelled data (a built-in dataset, or a folder with one "
                                f"sub-folder per class)")
        k_d = dataset_num_classes(dataset)
        if k_d != k_g:
            raise GanforgeError(f"metric {pm.name!r} (intra-class FID): the generator has {k_g} classes but the "
                                f"reference data {data_name!r} has {k_d}; evaluate against the labelled data the "
                                f"model was trained on")
        labels = torch.as_tensor(dataset.labels)
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= k_d):
            raise GanforgeError(f"metric {pm.name!r}: the reference data {data_name!r} has labels outside "
                                f"0..{k_d - 1}")
        counts = torch.bincount(labels.long(), minlength=k_g)
        few = [k for k in range(k_g) if int(counts[k]) < 2]
        if few:
            names = class_names(getattr(dataset, "class_names", None), k_g)
            more = f" (and {len(few) - 1} more classes with fewer than 2)" if len(few) > 1 else ""
            raise GanforgeError(f"metric {pm.name!r} (intra-class FID) needs at least 2 reference images of every "
                                f"class, but class {names[few[0]]!r} of {data_name!r} has {int(counts[few[0]])}{more}")

    def compute(self, pm, inputs) -> MetricValue:
        k_all = inputs.num_classes
        names = class_names(inputs.reference_class_names, k_all)
        per_class: dict[str, float] = {}
        num_real = 0
        for k in range(k_all):
            gf, _ = inputs.generated_features(pm.n, label=k)
            if len(gf) != pm.n:  # the promise holds per class, not only in total
                raise GanforgeError(f"metric {pm.name!r} needs {pm.n} generated images of class {names[k]!r} but "
                                    f"the generator gave {len(gf)}")
            nr = inputs.class_real_count(k)
            mu_r, sigma_r = inputs.real_stats(nr, label=k)
            mu_g, sigma_g = feature_stats(gf)
            per_class[names[k]] = fid_from_stats(mu_g, sigma_g, mu_r, sigma_r)
            num_real += nr
        value = float(np.mean(list(per_class.values())))
        return MetricValue(value, k_all * pm.n, num_real, {"per_class": per_class, "classes": k_all})


register_metric(IntraFID())
