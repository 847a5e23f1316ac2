"""Per-node metrics for the graph's overlays (no Qt): parameters, FLOPs, output size,
measured latency, each layer's zero fraction, a run's per-layer training summaries, and the zoo
scoreboard's accuracy-against-cost data.

Where things are: ``latency`` (per-node timing against one eager pass), ``overlays``
(per-node values and their aggregation over collapsed blocks), ``scoreboard`` (accuracy,
GFLOPs and parameters of reference models, small forms and the user's runs).
"""
