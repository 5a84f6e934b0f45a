"""Hook specifications of the ``segframe`` plugin project.

A plugin is any module (or object) with functions decorated by :data:`hookimpl`,
registered through the ``segframe`` entry-point group of its distribution::

    [project.entry-points.segframe]
    myplugin = "my_package.plugin"

Registration is strict, so that a plugin author learns of a mistake from
``segframe plugins`` rather than from a search that silently lacks the component: a
function named like a hook but not marked with :data:`hookimpl`, a module that
implements no hook, and a misspelled hook name (``segframe_componets``, found by
pluggy's ``check_pending``) each make the plugin broken, with the reason.
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
