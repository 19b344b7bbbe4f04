# The benchmark (docs/bench.md): the batch pipeline against the raw Elasticsearch sink, each
# stage on one core, the peers, 1x vs 4x. Not a test: it measures and writes bench/results.json.
# BENCH_FRACTION=0.05 makes a quick run on the first 5% of the corpus (the default, 1, is the
# benchmark the issue defines); BENCH_ARGS passes more flags (python -m bench.run --help).

BENCH_FRACTION ?= 1
BENCH_ARGS ?=

.PHONY: bench bench-quick bench-equivalence

bench: install es-up ## Benchmark the whole pipeline vs the raw sink, stages, peers, 1x/4x (medians of 3 runs)
	$(BIN)/python -m bench.run --es-url $(ES_URL) --fraction $(BENCH_FRACTION) $(BENCH_ARGS)

bench-quick: install es-up ## The same benchmark on 2% of the corpus, one run each (a check that it runs: minutes, not half an hour)
	$(BIN)/python -m bench.run --es-url $(ES_URL) --fraction 0.02 --sample 100 --peer-sample 20 --raw-runs 1 \
		--out var/bench/results-quick.json $(BENCH_ARGS)

bench-equivalence: install es-up flink-jobserver ## Whole corpus on the default runner and on Flink: same ids and clusters?
	$(BIN)/python -m bench.run --equivalence --es-url $(ES_URL) $(BENCH_ARGS)
