"""``switchboard bench``: the pipeline measured next to the raw Kafka passthrough ceiling.

Both figures come from the same broker in the same run (``run``):
1. raw produce of N inbound-sized records (``events``, ``raw``);
2. plain passthrough (consume 1, produce 2, wait for acks, commit per batch): the
   ceiling (``raw``);
3. the pipeline: the N events through the router and metrics roles, each in its own
   ``switchboard run`` process as in production (``processes``), with end-to-end latency
   per event (``pipeline``) and one webform at a time while idle (``http_probe``).
Then the report (``report``). Without configured Kafka/Redis it embeds both, like
``dev``. Topics get a fresh prefix. Ctrl-C stops it within seconds with nothing left
running (``run``; ``clients`` keeps cancelled Kafka clients quiet).
"""

from router.app.bench.run import BenchInterrupted, run_bench

__all__ = ["BenchInterrupted", "run_bench"]
