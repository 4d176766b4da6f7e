"""The frequency split (LFC/HFC), how images are scaled for a model, probes and the prober that
evaluates a model on them, and Figure 2's example grid.
"""
