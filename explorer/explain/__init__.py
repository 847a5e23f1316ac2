"""Explaining what a network computes (no Qt): receptive fields, class evidence (Captum),
knockouts and the top images of every channel.

Modules:

- :mod:`~explorer.explain.receptive_field`: theoretical fields on the traced graph (the
  graph package runs it for every node) and the input box of any unit;
- :mod:`~explorer.explain.attribution`: Grad-CAM, gradient saliency and occlusion maps
  through Captum, and the effective receptive field of a unit;
- :mod:`~explorer.explain.layers`: which module ends at a graph node (what hooks reach);
- :mod:`~explorer.explain.knockout`: switching parts of a network off with hooks and
  measuring the change;
- :mod:`~explorer.explain.top_images`: the test images that excite each channel most,
  computed by a generator and cached on disk.

Only the receptive-field names are imported here: :mod:`explorer.graph` imports that
module while it initialises, and the others import :mod:`explorer.graph`.
"""

from explorer.explain.receptive_field import MODEL_NOTES, UnitBox, receptive_fields, unit_box, upstream_box

__all__ = ["MODEL_NOTES", "UnitBox", "receptive_fields", "unit_box", "upstream_box"]
