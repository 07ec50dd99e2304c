"""The paper's experiments with dacs_ext: tasks, the command line (``python -m
experiments run|report``), and the kernel demo (``python -m experiments.demo``)."""
