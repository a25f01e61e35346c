"""Export a trained BEAM-Net or rate-SNN to the fixed-point archives lava runs (``loihi_export``):
one module per network kind, :mod:`beamnet.loihi.export_beam_net` and
:mod:`beamnet.loihi.export_rate_snn`, on the shared quantisation in :mod:`beamnet.loihi.quantise`."""

from beamnet.loihi.export_beam_net import export_beam_net
from beamnet.loihi.export_rate_snn import export_rate_snn

EXPORTERS = {"beam_net": export_beam_net, "rate_snn": export_rate_snn}

__all__ = ["EXPORTERS", "export_beam_net", "export_rate_snn"]
