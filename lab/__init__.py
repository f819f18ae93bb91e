"""The lab: sample data, synthetic scenes, demo steps and training code.

Nothing in the product (``capture``, ``anonymize``, ``models``, ``edge``, ``server``,
``calibration``, ``voirie.records``) imports it: a command that needs it (``voirie demo``,
``voirie train ...``) imports it when it runs. ``tests/test_layering.py`` holds that line.

* ``sample``: the bundled sample drive (real road photos, a simulated GNSS track) and its scene;
* ``synth``: synthetic damage, faces and plates, calibration targets, server records;
* ``demo``: ``voirie demo`` and its steps;
* ``train``: training, evaluation and packaging of the damage and plate models.
"""
