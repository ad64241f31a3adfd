"""Errors raised by the layers package (each also a :class:`ValueError`)."""


class LayerError(ValueError):
    """Base class of every layers error."""


class UnsupportedFormatError(LayerError):
    """An output format that the layer cannot be written as."""
