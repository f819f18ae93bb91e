"""voirie: open edge computer vision for roads."""

__version__ = "0.1.0"
