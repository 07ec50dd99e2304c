"""DACS inside other active-learning libraries.

- ``dacs_ext.adapters.small_text``: ``DACSQueryStrategy``, a small-text query
  strategy (``pip install dacs_ext[small-text]``).
- ``dacs_ext.adapters.modal``: ``dacs_query``, a modAL query strategy
  (``pip install dacs_ext[modal]``).

Nothing is imported here, so ``dacs_ext`` never needs either library: import the
module of the library you use.
"""
