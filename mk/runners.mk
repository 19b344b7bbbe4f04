# Beam runners for local and distributed runs: a Flink job server, a Spark job server and Prism.
# Everything is fetched from Maven Central / the Go module proxy here, at build time, into
# var/runners/; nothing downloads when a pipeline runs. See docs/runners.md.

BEAM_VERSION := 2.70.0
RUNNERS_DIR := var/runners
FLINK_JOBSERVER_JAR := $(RUNNERS_DIR)/beam-flink-job-server-$(BEAM_VERSION).jar
SPARK_JOBSERVER_JAR := $(RUNNERS_DIR)/beam-spark-job-server-$(BEAM_VERSION).jar
PRISM_BIN := $(RUNNERS_DIR)/prism
MVN ?= mvn
MVN_FLAGS ?= -B -q -Dstyle.color=never
GO ?= go

.PHONY: runners flink-jobserver spark-jobserver prism runners-check runners-clean test-runners

runners: flink-jobserver spark-jobserver prism ## Build every Beam runner under var/runners/

flink-jobserver: $(FLINK_JOBSERVER_JAR) ## Build the Beam Flink 1.19 job server jar (Maven Central)

spark-jobserver: $(SPARK_JOBSERVER_JAR) ## Build the Beam Spark 3 job server jar (Maven Central)

prism: $(PRISM_BIN) ## Build Beam's Prism runner binary (Go module proxy)

# A jar is rebuilt only when its pom is newer (make compares mtimes). Maven writes into a
# scratch folder and the jar is moved into place whole, so a failed build leaves no jar behind.
$(FLINK_JOBSERVER_JAR): runners/flink/pom.xml
	$(MVN) $(MVN_FLAGS) -f $< package -Dout.dir=$(abspath $(RUNNERS_DIR))/build/out
	mv $(RUNNERS_DIR)/build/out/$(notdir $@) $@

$(SPARK_JOBSERVER_JAR): runners/spark/pom.xml
	$(MVN) $(MVN_FLAGS) -f $< package -Dout.dir=$(abspath $(RUNNERS_DIR))/build/out
	mv $(RUNNERS_DIR)/build/out/$(notdir $@) $@

# go.sum pins every module hash, so the checksum database is never asked (it does not know
# beam v2.70.0 through our proxy). GOTOOLCHAIN=local: fail rather than fetch another Go.
# Prism is built from a copy of the Beam module with its metrics store patched
# (scripts/runners/patch_prism.py: the counts of concurrent bundles were lost).
PRISM_BUILD := $(RUNNERS_DIR)/build/prism
$(PRISM_BIN): runners/prism/go.mod runners/prism/go.sum scripts/runners/patch_prism.py
	cd runners/prism && GOTOOLCHAIN=local $(GO) mod download -modcacherw github.com/apache/beam/sdks/v2
	python3 scripts/runners/patch_prism.py \
	  "$$(cd runners/prism && GOTOOLCHAIN=local $(GO) list -m -f '{{.Dir}}' github.com/apache/beam/sdks/v2)" \
	  runners/prism/go.mod $(PRISM_BUILD)
	cd runners/prism && GOTOOLCHAIN=local $(GO) build -modfile=$(abspath $(PRISM_BUILD))/go.mod -modcacherw -trimpath \
	  -o $(abspath $@) github.com/apache/beam/sdks/v2/go/cmd/prism

# The jars pair 2.70.0 runners with the 2.65.0 job service (see runners/flink/pom.xml); this
# reads their bytecode and fails if any call across that seam has no target. About 2 min.
runners-check: $(FLINK_JOBSERVER_JAR) $(SPARK_JOBSERVER_JAR) ## Check the job-server jars link across the pinned job service
	python3 scripts/runners/check_links.py $(FLINK_JOBSERVER_JAR)
	python3 scripts/runners/check_links.py $(SPARK_JOBSERVER_JAR)

test-runners: runners ## Run the runner smoke tests (Flink, Prism, Spark)
	$(BIN)/python -m pytest -m integration tests/integration/test_runners_smoke.py

runners-clean: ## Remove the built runners (keeps the Maven and Go caches)
	rm -rf $(RUNNERS_DIR)
