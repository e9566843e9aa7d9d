"""Find a package's task modules, so that the app's include list writes itself.

Add a module under taskrunner/tasks/, at any depth, and the next worker
started knows its tasks, without a change to celery.py.
"""

import importlib.util
import pkgutil


def detect_task_modules(package):
    """Name every module below ``package``, at any depth.

    The package is found where Python imported it from, never through the
    current directory, so a worker started anywhere finds the same modules.
    A sub-package needs an ``__init__.py`` to be searched.
    """
    folders = importlib.util.find_spec(package).submodule_search_locations
    return sorted(
        module.name
        for module in pkgutil.walk_packages(folders, prefix=f"{package}.")
        if not module.ispkg
    )
