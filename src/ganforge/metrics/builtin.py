"""The metrics ganforge ships. Each module registers its metrics in ``base.METRICS`` when imported;
``protocol`` imports this one, so a name resolves whatever was imported before. A new metric module
goes in the import line below.
"""

from ganforge.metrics import equivariance, fid, inception_score, intra_fid, kid, msssim, pairs, ppl, precision_recall, swd  # noqa: F401
