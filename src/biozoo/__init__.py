"""biozoo: train, compare, ensemble and explain deep architectures on biomedical data."""

__version__ = "0.1.0"
