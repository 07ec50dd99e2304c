"""Experiments on real data sets with dacs_ext (for now: the kernel demo)."""
