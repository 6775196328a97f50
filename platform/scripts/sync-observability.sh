#!/usr/bin/env bash
# Syncs the orchestrator's observability files (observability/) to a monitoring stack.
#
# Usage: sync-observability.sh [--dry-run] <command>
#   sync-service orchestrator  validate, then sync-dashboards and sync-alerts
#   sync-dashboards            push dashboards/*.json to Grafana: POST $GRAFANA_URL/api/dashboards/db
#                              with overwrite=true (the dashboard's uid keys it)
#   sync-alerts                validate alerts.yaml (promtool check + unit tests), install it as
#                              $PROMETHEUS_RULES_DIR/orchestrator.rules.yaml, POST $PROMETHEUS_URL/-/reload,
#                              then check every rule is loaded and Alertmanager is reachable
#   validate                   offline: dashboards' structure, promtool check rules, promtool test
#                              rules tests/*.yaml, every PromQL query (dashboards, alerts, SLO.md,
#                              runbook.md) parses, promtool check config local/prometheus.yml
#   list-queries               print every PromQL query of those files (JSON lines)
# Options:
#   --dry-run   show what would change; makes only read-only requests (GET), writes nothing
#   -h, --help  this text
#
# Environment:
#   GRAFANA_URL, GRAFANA_API_KEY  sync-dashboards (the key is sent as a Bearer token, never printed)
#   PROMETHEUS_URL                sync-alerts: the Prometheus that loads the rules
#   PROMETHEUS_RULES_DIR          sync-alerts: a directory that Prometheus' rule_files glob covers
#                                 (a mounted volume, or a local path for a local Prometheus)
#   ALERTMANAGER_URL              sync-alerts: checked to be ready and known to that Prometheus
#   ENVIRONMENT                   production, staging or development: recorded in the dashboard's
#                                 version message and the installed rules file's header
#   GRAFANA_FOLDER_UID            optional: the Grafana folder of the dashboards
#   OBSERVABILITY_DIR             optional: the files to sync (default: the repository's observability/)
#   PYTHON                        optional: a python3 with PyYAML (default: python3, then /usr/bin/python3)
#
# Needs curl, jq, promtool (Debian: prometheus) and python3 with PyYAML (Debian: python3-yaml).
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
obs_dir=${OBSERVABILITY_DIR:-$script_dir/../../observability}
files_py="$script_dir/observability_files.py"
rules_file_name=orchestrator.rules.yaml
dry_run=false
validated=false # set by validate: sync-alerts then skips the same promtool runs

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() { echo "error: $*" >&2; exit 1; }
say() { echo "$*"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

require() {
  local missing=()
  for name in "$@"; do [[ -n ${!name:-} ]] || missing+=("$name"); done
  ((${#missing[@]} == 0)) || die "missing environment variable(s): ${missing[*]} (see --help)"
}

require_environment() {
  require ENVIRONMENT
  case $ENVIRONMENT in
    production | staging | development) ;;
    *) die "ENVIRONMENT must be production, staging or development, got '$ENVIRONMENT'" ;;
  esac
}

require_tool() { command -v "$1" > /dev/null || die "$1 is not installed ($2)"; }

# A Python 3 with PyYAML for observability_files.py: $PYTHON, python3 on PATH, or Debian's.
python=
require_python() {
  [[ -n $python ]] && return
  local candidate
  for candidate in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$candidate" -c 'import yaml' 2> /dev/null; then python=$candidate; return; fi
  done
  die "no python3 with PyYAML found (apt-get install python3-yaml)"
}
files() { require_python; "$python" "$files_py" "$@"; }

# http METHOD URL [BODY_FILE] [auth]: sets $status and leaves the response body in $tmp/body.
# The Authorization header comes from a file (curl -H @file), so the key is in no command line.
http() {
  local method=$1 url=$2 body=${3:-} auth=${4:-}
  local args=(-sS -X "$method" -o "$tmp/body" -w '%{http_code}' --max-time 30 -H 'Accept: application/json')
  [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "@$body")
  [[ -n $auth ]] && args+=(-H "@$tmp/auth-header")
  status=$(curl "${args[@]}" "$url" 2> "$tmp/curl-error") || die "$method $url failed: $(cat "$tmp/curl-error")"
}

grafana_auth() {
  (umask 077 && printf 'Authorization: Bearer %s\n' "$GRAFANA_API_KEY" > "$tmp/auth-header")
}

# --- validate --------------------------------------------------------------------------------

validate() {
  require_tool promtool "apt-get install prometheus"
  say "== validate $obs_dir"
  files check-dashboards "$obs_dir"
  say "dashboards: ok"
  promtool check rules "$obs_dir/alerts.yaml" > "$tmp/out" 2>&1 || { cat "$tmp/out" >&2; die "alerts.yaml: promtool check rules failed"; }
  files check-alerts "$obs_dir"
  say "alerts.yaml: $(grep -o 'SUCCESS.*' "$tmp/out"), each alert with its runbook section"
  files rules "$obs_dir" "$tmp/queries.yaml" > "$tmp/sources"
  if ! promtool check rules "$tmp/queries.yaml" > "$tmp/out" 2>&1; then
    cat "$tmp/out" >&2
    echo "queries, by the record name in the errors above:" >&2
    cat "$tmp/sources" >&2
    die "a PromQL query does not parse"
  fi
  say "queries: $(wc -l < "$tmp/sources") parse"
  if [[ -f $obs_dir/local/prometheus.yml ]]; then
    promtool check config "$obs_dir/local/prometheus.yml" > "$tmp/out" 2>&1 || { cat "$tmp/out" >&2; die "local/prometheus.yml: promtool check config failed"; }
    say "local/prometheus.yml: ok"
  fi
  shopt -s nullglob
  local tests=("$obs_dir"/tests/*.yaml)
  ((${#tests[@]})) || die "no rule unit tests in $obs_dir/tests"
  promtool test rules "${tests[@]}" > "$tmp/out" 2>&1 || { cat "$tmp/out" >&2; die "rule unit tests failed"; }
  say "rule unit tests: ok (${#tests[@]} file(s))"
  validated=true
}

# --- dashboards ------------------------------------------------------------------------------

sync_dashboards() {
  require GRAFANA_URL GRAFANA_API_KEY
  require_environment
  require_tool jq "apt-get install jq"
  files check-dashboards "$obs_dir"
  grafana_auth
  local grafana=${GRAFANA_URL%/} file uid title
  say "== dashboards -> $grafana ($ENVIRONMENT)"
  for file in "$obs_dir"/dashboards/*.json; do
    uid=$(jq -r .uid "$file")
    title=$(jq -r .title "$file")
    if $dry_run; then
      http GET "$grafana/api/dashboards/uid/$uid" "" auth
      case $status in
        404) say "would create dashboard '$title' (uid $uid)" ;;
        200)
          # Compare without the fields Grafana owns (id, version) and key order.
          jq -S 'del(.id, .version)' "$file" > "$tmp/local.json"
          jq -S '.dashboard | del(.id, .version)' "$tmp/body" > "$tmp/remote.json"
          if diff -q "$tmp/remote.json" "$tmp/local.json" > /dev/null; then
            say "unchanged: dashboard '$title' (uid $uid)"
          else
            say "would update dashboard '$title' (uid $uid, now version $(jq -r .meta.version // .dashboard.version "$tmp/body" 2> /dev/null || echo '?')):"
            diff -u "$tmp/remote.json" "$tmp/local.json" --label grafana --label "$(basename "$file")" | head -40 || true
          fi
          ;;
        401 | 403) die "Grafana refused the API key (HTTP $status) at $grafana" ;;
        *) die "GET $grafana/api/dashboards/uid/$uid answered HTTP $status: $(head -c 300 "$tmp/body")" ;;
      esac
      continue
    fi
    jq --arg message "sync-observability.sh ($ENVIRONMENT)" --arg folder "${GRAFANA_FOLDER_UID:-}" \
      '{dashboard: (. + {id: null}), overwrite: true, message: $message} + (if $folder == "" then {} else {folderUid: $folder} end)' \
      "$file" > "$tmp/request.json"
    http POST "$grafana/api/dashboards/db" "$tmp/request.json" auth
    case $status in
      200) say "synced dashboard '$title': $(jq -r '"\(.url) (version \(.version))"' "$tmp/body")" ;;
      401 | 403) die "Grafana refused the API key (HTTP $status) at $grafana" ;;
      *) die "POST $grafana/api/dashboards/db answered HTTP $status: $(head -c 300 "$tmp/body")" ;;
    esac
  done
}

# --- alerts ----------------------------------------------------------------------------------

# Rules Prometheus has loaded from our file ($tmp/body = GET /api/v1/rules), found by file name:
# the directory may be mounted at another path on Prometheus' side.
loaded_rules() {
  jq --arg name "/$rules_file_name" '[.data.groups[] | select(.file | endswith($name)) | .rules[]] | length' "$tmp/body"
}

sync_alerts() {
  require PROMETHEUS_URL PROMETHEUS_RULES_DIR ALERTMANAGER_URL
  require_environment
  require_tool jq "apt-get install jq"
  require_tool promtool "apt-get install prometheus"
  local prometheus=${PROMETHEUS_URL%/} alertmanager=${ALERTMANAGER_URL%/}
  local source="$obs_dir/alerts.yaml" target="${PROMETHEUS_RULES_DIR%/}/$rules_file_name" count
  say "== alerts -> $prometheus ($ENVIRONMENT), rules file $target"
  [[ -d $PROMETHEUS_RULES_DIR ]] || die "PROMETHEUS_RULES_DIR '$PROMETHEUS_RULES_DIR' is not a directory"
  promtool check rules "$source" > "$tmp/out" 2>&1 || { cat "$tmp/out" >&2; die "alerts.yaml: promtool check rules failed"; }
  count=$(grep -o 'SUCCESS: [0-9]*' "$tmp/out" | grep -o '[0-9]*$')
  if ! $validated; then
    promtool test rules "$obs_dir"/tests/*.yaml > "$tmp/out" 2>&1 || { cat "$tmp/out" >&2; die "rule unit tests failed"; }
  fi
  { printf '# Installed by platform/scripts/sync-observability.sh for %s from %s. Do not edit here.\n' "$ENVIRONMENT" "$source"; cat "$source"; } > "$tmp/rules.yaml"

  http GET "$alertmanager/-/ready"
  [[ $status == 200 ]] || die "Alertmanager at $alertmanager is not ready (GET /-/ready: HTTP $status)"

  if $dry_run; then
    if [[ ! -f $target ]]; then
      say "would install $target ($count rules)"
    elif diff -q "$target" "$tmp/rules.yaml" > /dev/null; then
      say "unchanged: $target"
    else
      say "would update $target:"
      diff -u "$target" "$tmp/rules.yaml" | head -60 || true
    fi
    http GET "$prometheus/api/v1/rules"
    [[ $status == 200 ]] || die "GET $prometheus/api/v1/rules answered HTTP $status"
    say "would reload $prometheus (POST /-/reload); it has $(loaded_rules) rules of that file loaded now"
    return
  fi

  cp "$tmp/rules.yaml" "$target.tmp" && mv "$target.tmp" "$target" # rename: Prometheus never reads half a file
  http POST "$prometheus/-/reload"
  case $status in
    200) ;;
    403 | 404 | 405) die "Prometheus refused POST /-/reload (HTTP $status): start it with --web.enable-lifecycle, or reload it with SIGHUP" ;;
    *) die "POST $prometheus/-/reload answered HTTP $status: $(head -c 300 "$tmp/body")" ;;
  esac
  http GET "$prometheus/api/v1/rules"
  [[ $status == 200 ]] || die "GET $prometheus/api/v1/rules answered HTTP $status"
  local loaded
  loaded=$(loaded_rules)
  [[ $loaded == "$count" ]] || die "Prometheus loaded $loaded of $count rules from $target: is $PROMETHEUS_RULES_DIR covered by its rule_files, and is it the same path on its side?"
  say "synced $count rules to $prometheus"
  http GET "$prometheus/api/v1/alertmanagers"
  if [[ $status == 200 ]] && jq -e --arg am "$alertmanager/" '.data.activeAlertmanagers[] | select(.url | startswith($am))' "$tmp/body" > /dev/null; then
    say "alerts go to $alertmanager"
  else
    say "warning: $prometheus does not list $alertmanager among its Alertmanagers (its alerting config may use another address for it)"
  fi
}

# --- main ------------------------------------------------------------------------------------

args=()
for arg in "$@"; do
  case $arg in
    --dry-run) dry_run=true ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $arg (see --help)" ;;
    *) args+=("$arg") ;;
  esac
done
set -- "${args[@]+"${args[@]}"}"
[[ -d $obs_dir ]] || die "no observability directory at $obs_dir"
obs_dir=$(cd "$obs_dir" && pwd)
$dry_run && say "dry run: nothing will be changed"

case ${1:-} in
  sync-service)
    [[ ${2:-} == orchestrator ]] || die "sync-service takes the service name; this repository has only 'orchestrator'"
    require GRAFANA_URL GRAFANA_API_KEY PROMETHEUS_URL PROMETHEUS_RULES_DIR ALERTMANAGER_URL
    require_environment
    validate
    sync_dashboards
    sync_alerts
    ;;
  sync-dashboards) sync_dashboards ;;
  sync-alerts) sync_alerts ;;
  validate) validate ;;
  list-queries) files queries "$obs_dir" ;;
  '') usage >&2; exit 2 ;;
  *) die "unknown command '$1' (see --help)" ;;
esac
