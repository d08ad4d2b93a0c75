"""The sub-command groups of ``taiex`` (``db``, ``models``, ``step``, ``simulate``), one module
each, and what every command shares (:mod:`taiex.commands.common`). :mod:`taiex.cli` holds the
root: the app, its one-line errors and the top-level commands."""
