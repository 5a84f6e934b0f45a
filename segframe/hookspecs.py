"""Hook specifications of the ``segframe`` plugin project.

A plugin is any module (or object) with functions decorated by :data:`hookimpl`,
registered through the ``segframe`` entry-point group of its distribution::

    [project.entry-points.segframe]
    myplugin = "my_package.plugin"
"""

from __future__ import annotations

import pluggy

from segframe.components import Component

PROJECT = "segframe"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def segframe_components() -> list[Component]:
    """Return the components this plugin adds.

    Called once per registry load. Import heavy optional dependencies inside the
    components' factories, not at module import, and list them in
    ``Component.requires_modules`` so that a missing one shows the plugin's
    components as unavailable with an install hint instead of breaking start-up.
    """
