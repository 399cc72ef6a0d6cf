"""lskd: label smoothing x knowledge distillation, as an executable book.

Reproduction of Chandrasegaran et al., "Revisiting Label Smoothing and
Knowledge Distillation Compatibility: What was Missing?" (ICML 2022).
"""

__version__ = "0.1.0"
