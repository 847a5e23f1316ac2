"""Explaining what a network computes (no Qt): class evidence (Captum), a unit's field,
knockouts and the top images of every channel.

Modules:

- :mod:`~explorer.explain.attribution`: Grad-CAM, gradient saliency and occlusion maps
  through Captum, and the effective receptive field of a unit;
- :mod:`~explorer.explain.unit_field`: one unit's theoretical and effective fields;
- :mod:`~explorer.explain.layers`: which module ends at a graph node (what hooks reach);
- :mod:`~explorer.explain.knockout`: switching parts of a network off with hooks and
  measuring the change (:mod:`~explorer.explain.knockout_report` for the window,
  :mod:`~explorer.explain.held_out` for the test images it is measured on;
  :mod:`~explorer.explain.knockout_view` for where the graph view shows them);
- :mod:`~explorer.explain.top_images`: the test images that excite each channel most,
  computed by a generator and cached on disk;
- :mod:`~explorer.explain.feature_vis`: the image optimised to excite one channel (feature
  visualisation, Olah et al. 2017), a generator with progress, cached by weights hash;
- :mod:`~explorer.explain.units`: how one unit computes, every layer kind of the zoo, from
  the stepper's live tensors, checked against the model's own value.

The theoretical receptive fields are part of the graph
(:mod:`explorer.graph.receptive_field`): tracing computes them for every node.
"""
