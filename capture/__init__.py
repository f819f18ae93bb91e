"""Capture: camera and GNSS sources, the 4 m distance trigger and the frame quality gate."""
