"""The paper's experiments with dacs_ext: ``tasks`` (Repeated-MNIST, Davis,
CIFAR-10), the run machinery (``runner``, ``layout``, ``report``, ``stats``),
``analyses`` (ablation, the paper's figures, redundancy and replays) and one
command line, ``python -m experiments --help``."""
