"""``voirie demo``: the runner (``runner``) and one step per stage."""
