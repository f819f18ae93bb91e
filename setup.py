"""Map the design card's top-level folders onto one import namespace, ``voirie``.

``capture/`` installs as ``voirie.capture`` and so on, so nothing named ``server`` or
``models`` lands at the top of site-packages. Subpackages are found by walking each folder.
"""

import os

from setuptools import setup

STAGE_FOLDERS = {
    "voirie": "voirie",
    "voirie.capture": "capture",
    "voirie.anonymize": "anonymize",
    "voirie.models": "models",
    "voirie.edge": "edge",
    "voirie.server": "server",
    "voirie.calibration": "calibration",
    "voirie.reanalyse": "reanalyse",  # archived photos through a new model: reads the server's database
    "voirie.lab": "lab",  # sample data, synthetic scenes, demo steps, training: never imported by the runtime
}


def _packages() -> list[str]:
    found = []
    for package, folder in STAGE_FOLDERS.items():
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__"))]
            if "__init__.py" in filenames:
                relative = os.path.relpath(dirpath, folder)
                found.append(package if relative == "." else f"{package}.{relative.replace(os.sep, '.')}")
    return found


setup(packages=_packages(), package_dir=STAGE_FOLDERS)
