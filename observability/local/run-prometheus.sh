#!/usr/bin/env bash
# Starts a local Prometheus (Debian's `prometheus` package) in the foreground: it scrapes the
# orchestrator on loopback every SCRAPE_INTERVAL, with observability/alerts.yaml loaded, and keeps
# its data under PROMETHEUS_DATA. Used by `make dev-monitoring` and by tests/observability/.
#
#   ORCHESTRATOR_TARGET  host:port serving /metrics   (default 127.0.0.1:$PORT, PORT default 8002)
#   PROMETHEUS_LISTEN    address of Prometheus' UI/API (default 127.0.0.1:9090)
#   PROMETHEUS_DATA      state directory               (default ./data/prometheus)
#   SCRAPE_INTERVAL      scrape and rule evaluation interval (default 5s)
#   PROMETHEUS_RULES_DIR when set, rules are loaded from DIR/*.yaml instead of observability/alerts.yaml
#                        (where `platform/scripts/sync-observability.sh sync-alerts` installs them)
#
# The lifecycle API is on: after editing alerts.yaml, `curl -X POST http://$PROMETHEUS_LISTEN/-/reload`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
target=${ORCHESTRATOR_TARGET:-127.0.0.1:${PORT:-8002}}
listen=${PROMETHEUS_LISTEN:-127.0.0.1:9090}
data=${PROMETHEUS_DATA:-./data/prometheus}
interval=${SCRAPE_INTERVAL:-5s}
rules=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/alerts.yaml
if [[ -n ${PROMETHEUS_RULES_DIR:-} ]]; then
  mkdir -p "$PROMETHEUS_RULES_DIR"
  rules="$(cd "$PROMETHEUS_RULES_DIR" && pwd)/*.yaml"
fi

command -v prometheus > /dev/null || { echo "prometheus is not installed: apt-get install prometheus" >&2; exit 1; }
[[ $target =~ ^[A-Za-z0-9.-]+:[0-9]+$ ]] || { echo "ORCHESTRATOR_TARGET must be host:port, got '$target'" >&2; exit 1; }
[[ $interval =~ ^[0-9]+(ms|s|m)$ ]] || { echo "SCRAPE_INTERVAL must be a duration such as 5s, got '$interval'" >&2; exit 1; }

mkdir -p "$data"
data=$(cd "$data" && pwd)
config="$data/prometheus.yml"
# The checked-in config with this run's target, interval and the rules' absolute path (a relative
# path would resolve against the rendered copy's directory).
sed -e "s|'127.0.0.1:8002'|'$target'|" \
    -e "s|^\(  [a-z_]*_interval:\) 5s$|\1 $interval|" \
    -e "s|- \.\./alerts\.yaml|- '$rules'|" \
    "$here/prometheus.yml" > "$config"

echo "prometheus: http://$listen scraping http://$target/metrics every $interval, rules $rules; data in $data" >&2
exec prometheus \
  --config.file="$config" \
  --storage.tsdb.path="$data/tsdb" \
  --storage.tsdb.retention.time=2d \
  --web.listen-address="$listen" \
  --web.enable-lifecycle \
  --log.level=warn
