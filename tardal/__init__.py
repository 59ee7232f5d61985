"""tardal: detection-oriented infrared and visible image fusion.

Importing the package does nothing but define names: no downloads, no file writes.
"""

__version__ = "0.1.0"
