"""The bundled sample drive: real road photos along a simulated GNSS track, and its scene."""
