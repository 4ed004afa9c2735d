"""Limits and timeouts of `tigris explore run`, in a module light enough for the command
line to read at start-up (run.py and runners.py use them; the options default to them)."""

DEFAULT_MAX_DESIGNS = 1_000_000
"""A run evaluating more designs than this is refused unless the user raises the limit
(`--max-designs`): at a few thousand designs a second that is minutes to hours and a
results file of a few hundred MB; ten times more is not something to start by mistake."""

RAY_TIMEOUT_S = 5.0
"""How long `--ray ADDRESS` waits for the cluster before giving up (`--ray-timeout`)."""
