"""fairseq ``--user-dir`` plug-in: ``--criterion lskd_kd`` distils a frozen teacher checkpoint.

    fairseq-train DATA --user-dir $(python -c "import lskd_core.nmt.fairseq_plugin as p, os; print(os.path.dirname(p.__file__))") \\
        --criterion lskd_kd --teacher-path teacher/checkpoint_last.pt --kd-temperature 3 [--kd-beta 0]
"""

from . import criterion  # importing registers the criterion with fairseq

__all__ = ["criterion"]
