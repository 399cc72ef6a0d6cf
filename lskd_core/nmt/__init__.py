"""Neural machine translation (paper Sec. 5, Tables 5, B.2): the fairseq plug-in and the corpora."""
