"""fastbp's version, in the one place that the package face and the file format read it."""
__version__ = "0.1.0"
