"""The device side of fleet management: the heartbeat ``client`` and the verified, atomic
``models`` folder (rollout and roll back)."""
