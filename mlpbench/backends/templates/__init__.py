"""Standalone scripts mlpbench writes out (``mlpbench repro``) or runs in a version stack whose
Python mlpbench cannot run in: each needs only its framework and NumPy. Filled in by
``mlpbench.worker.standalone``; never imported."""
