"""``switchboard bench``: the pipeline measured next to the raw Kafka passthrough ceiling.

Every figure comes from the same broker in the same run (``run``):
1. raw produce of N inbound-sized records (``events``, ``raw``);
2. plain passthrough (consume 1, produce 2, wait for acks, commit per batch): the
   ceiling (``raw``); the same as a FastStream batch subscriber when FastStream is
   installed (``fs_passthrough``);
3. the pipeline: the N events through the router and metrics roles, each in its own
   ``switchboard run`` process as in production (``processes``), with end-to-end latency
   per event (``pipeline``), one webform at a time while idle (``http_probe``), then
   steady offered loads, each event timed to its ``routed`` record (``latency``);
4. the passthrough at the same steady loads (``latency``);
5. the router alone on the N events pre-filled in ``inbound``, then timers and metrics
   alone on the tickets it wrote, timed by their committed offsets (``solo``);
6. scale-out: the router, then the timers role, with two processes each (one consumer
   group, the topic's partitions) on the same N events, next to the one process of step
   5, and an audit of the tickets topic showing nothing was processed twice across the
   rebalance (``scale``);
7. the ingress (webform and email) at concurrency 32 next to a minimal ASGI app that
   reads the body and awaits one acked produce (``ingress_load``, ``baseline``);
8. with ``--soak N``: N more events and each role's RSS at every 10 % (``soak``).
Then the report (``report``). Without configured Kafka/Redis it embeds both, like
``dev``. Topics get a fresh prefix. Ctrl-C stops it within seconds with nothing left
running (``run``; ``clients`` keeps cancelled Kafka clients quiet).
"""

from router.app.bench.processes import RoleExited
from router.app.bench.run import BenchInterrupted, run_bench

__all__ = ["BenchInterrupted", "RoleExited", "run_bench"]
