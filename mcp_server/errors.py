"""The read side raises the same error family as the write side."""

from indexers.errors import CtxfoldError

__all__ = ["CtxfoldError"]
