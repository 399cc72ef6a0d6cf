"""Process hygiene: children that do not outlive the process that started them."""

from __future__ import annotations

import os
import signal
import sys


def kill_child_groups(sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the process group of every direct child that leads its own group (Jupyter
    kernels start in a session of their own), and so to everything those children started."""
    me = os.getpid()
    for p in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid, pgid = int(fields[1]), int(fields[2])
        if ppid == me and pgid == int(p):
            try:
                os.killpg(pgid, sig)
            except OSError:
                pass


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``sig`` to this process when the thread that started it exits (prctl
    PR_SET_PDEATHSIG); it survives exec. Elsewhere this does nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, int(sig), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before the request took hold
        os.kill(os.getpid(), sig)
