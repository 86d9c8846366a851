"""Live mode: watch the user's own training run (a plain loop, Lightning or Keras) and diagnose it.

``recording`` holds what was seen, ``recorder`` attaches to a torch model and optimizer, ``symptoms``
judges the recording with the registered checks as it grows, ``report`` turns it into a ``Report``,
``watch`` is the handle of a plain loop, ``lightning`` and ``keras`` the callbacks. Nothing is re-exported.
"""
