"""tokenfleet: plan, simulate and run multi-vendor AI inference fleets, and value the deals behind them."""

__version__ = "0.1.0"
__all__ = ["__version__"]
