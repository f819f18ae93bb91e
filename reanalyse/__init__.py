"""Re-analysis of archived evidence photos with a new model: ``voirie reanalyse``.

The server's stored photos (``<data_dir>/evidence/<record_id>.jpg``) go through a registered
model again; the detections are stored under that model's version beside the devices' own,
a ledger (``analyses``) makes the job resumable, and grades are recomputed per model version.
The ``local`` engine is a plain loop; the ``ray`` engine runs the same analyser on a Ray
cluster (``pip install 'voirie[ray]'``). It sits after the server in the data flow: it
reads the server's database and the model registry, and nothing imports it.
"""
