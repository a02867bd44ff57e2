"""Benchmarks of the design rules that make the controller cheap to run.

Each module measures one rule and reports a `bench.report.Report`: tables, headline ratios and the
parameters it ran with. Comparisons are stated as ratios (the other way's cost over ours), because
absolute times depend on the machine and ratios mostly do not. Counts (API calls, driver calls,
EC2 calls) do not depend on the machine at all.

- `bench.parse`: decoding list responses: ``json.loads`` + ``Model.from_dict`` vs the kubernetes
  client's generated models.
- `bench.informer`: events per second through Reflector, DeltaFIFO, Indexer and a handler, vs
  relisting per event; memory per cached object.
- `bench.workqueue`: adds and gets per second, 1 and 8 producers; how many adds collapse.
- `bench.api_calls`: Kubernetes API and driver calls per machine over a whole lifecycle.
- `bench.ec2_calls`: EC2 calls per machine made by the AWS driver (moto behind a counting front).

Run one with ``python -m bench.<name>`` or all with ``python -m bench.run`` (``python bench/run.py``
works too); ``--json PATH`` also writes the report as JSON. ``tests/unit/bench`` runs every
benchmark with a tiny N so that none of them rots; it asserts shapes and counts, never times.
"""
