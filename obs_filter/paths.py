"""Where the filter's packages come from: a venv's site-packages first on ``sys.path``.

All OBS scripts share one interpreter, so this runs before anything imports numpy; it
imports nothing but the standard library.
"""

from __future__ import annotations

import os
import site
import sys


def venv_site_packages(root: str) -> list[str]:
    """site-packages folders of a venv root (or the folder itself if it is one)."""
    if not os.path.isfile(os.path.join(root, "pyvenv.cfg")):
        return [root]
    ver = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    cands = [os.path.join(root, "Lib", "site-packages"), os.path.join(root, "lib", ver, "site-packages")]
    return [c for c in cands if os.path.isdir(c)]


def add_package_paths(here: str, here_first: bool = True) -> list[str]:
    """Put the filter's packages first on sys.path: the site-packages of
    ``$OBS_BG_REPLACE_PYTHONPATH`` (os.pathsep-separated venvs or site-packages folders) or
    of a ``.venv`` in ``here``. With ``here_first``, ``here`` (the checkout: matting/,
    obs_filter/) goes ahead of them. Returns the folders added."""
    roots = [p for p in os.environ.get("OBS_BG_REPLACE_PYTHONPATH", "").split(os.pathsep) if p]
    if not roots and os.path.isdir(os.path.join(here, ".venv")):
        roots = [os.path.join(here, ".venv")]
    added = []
    for root in roots:
        for sp in venv_site_packages(os.path.abspath(os.path.expanduser(root))):
            if sp in sys.path:
                continue
            before = list(sys.path)
            site.addsitedir(sp)  # also runs its .pth files (editable installs)
            new = [p for p in sys.path if p not in before]
            sys.path[:] = new + before  # ahead of the system's dist-packages
            added += new
    if here_first:
        if here in sys.path:
            sys.path.remove(here)
        sys.path.insert(0, here)
    return added
