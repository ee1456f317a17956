"""The generic trainer and what it owns: EMA, checkpoints, stats."""
