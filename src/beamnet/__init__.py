"""BEAM-Net: Bayesian Event-driven Attentional Memory network.

The package holds all of the workflow's logic; Snakemake rules only call its command line,
``python -m beamnet <step> ...``. Sub-modules:

- :mod:`beamnet.config`     load config.yaml, schema and theory validation
- :mod:`beamnet.provenance` git commit, config hash and package versions for every output
- :mod:`beamnet.data`       digits, simulated-saccade digits and N-MNIST (tonic) sources, splits
- :mod:`beamnet.encoding`   Eq. 7 latency, population, event-latency and Poisson rate codes
"""

__version__ = "0.1.0"
