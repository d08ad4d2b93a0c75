# Sourced by .ci/run (bash) before `make test`: what the Airflow tests need beyond the database
# servers. It installs Debian's docker.io and debootstrap, starts a private Docker engine
# (scripts/dockerd.sh: no bridge, no iptables rules), builds the container modes' image
# (scripts/docker-image.sh) and requires the docker-mode test to run (TAIEX_REQUIRE_DOCKER=1).
#
#   source scripts/ci-airflow.sh            # after the database servers are up
#   trap 'ci_airflow_stop; scripts/db-servers.sh stop' EXIT
#
# The real-scheduler test (tests/test_airflow_cluster.py) needs nothing more than the PostgreSQL
# server that scripts/db-servers.sh starts (TAIEX_TEST_POSTGRES_URL) and TAIEX_REQUIRE_AIRFLOW=1.
# Timings on this project's 2-core machines: apt ~30 s, dockerd ~2 s, the image ~8 min on a cold
# cache (debootstrap ~1.5-2.5 min, wheelhouse ~2 min, build ~4 min), ~1 min when only taiex changed.

ci_airflow_stop() {
  scripts/dockerd.sh stop || true
}

${SUDO:-} apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
dockerd_env=$(scripts/dockerd.sh start)
eval "$dockerd_env"
scripts/docker-image.sh taiex:latest
export TAIEX_TEST_IMAGE=taiex:latest
export TAIEX_REQUIRE_DOCKER=1
