#!/usr/bin/env bash
# Print the Beam pipeline options for one of the runners that `make runners` builds, with
# absolute paths, e.g.:  akhbar batch --input ... $(scripts/runners/args.sh flink)
# Fails (exit 1, message on stderr) when the runner's artifact has not been built.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
dir=$repo/var/runners
beam=2.70.0

need() {
  [[ -e $1 ]] || { echo "$1 is missing: run \`make $2\` first" >&2; exit 1; }
}

case ${1:-} in
  flink)
    need "$dir/beam-flink-job-server-$beam.jar" flink-jobserver
    echo "--runner=FlinkRunner --flink_master=[local] --flink_job_server_jar=$dir/beam-flink-job-server-$beam.jar --environment_type=LOOPBACK"
    ;;
  prism)
    need "$dir/prism" prism
    echo "--runner=PrismRunner --prism_location=$dir/prism --environment_type=LOOPBACK"
    ;;
  spark)
    need "$dir/beam-spark-job-server-$beam.jar" spark-jobserver
    echo "--runner=SparkRunner --spark_master_url=local[2] --spark_job_server_jar=$dir/beam-spark-job-server-$beam.jar --environment_type=LOOPBACK"
    ;;
  *)
    echo "usage: $0 flink|prism|spark" >&2
    exit 2
    ;;
esac
