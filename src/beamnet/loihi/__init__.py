"""BEAM-Net on Intel Loihi 2 (lava-nc): export to a fixed-point NumPy archive, run it in lava.

- :mod:`beamnet.loihi.fixed_point` the archive format, its validation and a NumPy reference
  (NumPy only; shared by both environments)
- :mod:`beamnet.loihi.export`      checkpoint -> ``network.npz`` + ``inputs.npz`` (main env, torch)
- :mod:`beamnet.loihi.run_lava`    the archive -> lava processes on Loihi2SimCfg('fixed_pt')
  (Python 3.10 lava-nc env; imports NumPy, lava and the standard library only)
- :mod:`beamnet.loihi.report`      the runner's CSV -> Parquet tables with Eq. 25 energy (main env)

This package's ``__init__`` imports nothing, so the lava environment can import
``beamnet.loihi.fixed_point`` without torch.
"""
