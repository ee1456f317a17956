"""Reading model files written by other projects, without running code stored in them."""

from ganforge.io.official_pickle import NetRecord, read_official_pickle

__all__ = ["NetRecord", "read_official_pickle"]
