"""One error family for ctxfold. What the caller (a person or a model) can fix is a
CtxfoldError, and its message names the bad value and the next step."""


class CtxfoldError(Exception):
    pass


class EncodingUnavailable(CtxfoldError, RuntimeError):
    """A tiktoken encoding that ctxfold does not know or cannot load."""
