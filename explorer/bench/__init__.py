"""`cnn-explorer bench SUITE`: speed goals checked as ratios against baselines measured in
the same run where possible. Each suite module defines ``run(quick: bool = False) -> dict``
with a ``checks`` list of ``{"name", "value", "unit", "limit", "passed"}`` entries."""

SUITES = ("graph", "inspect", "train", "explain", "timemachine", "startup", "unit", "open_model", "lessons")


def child_result(module: str, args: list[str], home: str, timeout_s: float, **env: str) -> dict:
    """Run ``python -m explorer.bench.<module> ARGS`` in a fresh process with its settings and
    caches under ``home`` (the data folder stays the caller's) and ``env`` added: the JSON
    line it printed last.

    Raises:
        RuntimeError: the child failed (with the last line it wrote to stderr).
    """
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "CNN_EXPLORER_CONFIG_DIR": os.path.join(home, "config"),
           "CNN_EXPLORER_CACHE_DIR": os.path.join(home, "cache"), **env}
    out = subprocess.run([sys.executable, "-m", f"explorer.bench.{module}", *args], capture_output=True, text=True,
                         env=env, timeout=timeout_s, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench {module} child {args[:1]} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])
