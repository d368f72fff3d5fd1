"""mdmtui: a keyboard-driven console linking an asset inventory to MDM systems."""

__version__ = "0.1.0"
