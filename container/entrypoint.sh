#!/bin/sh
# Entrypoint of the cpumon API image.
#
# With no arguments (the image's default): apply the database migrations, retrying until the
# database answers or CPUMON_MIGRATE_TIMEOUT seconds have passed (the database container may
# still be starting: compose's depends_on/healthy is not honoured by every engine), then serve
# with `cpumon-server` (CPUMON_HOST, CPUMON_PORT, CPUMON_WORKERS from the environment).
# Set CPUMON_MIGRATE=false to skip the migrations (e.g. replicas, when one job migrates).
# With arguments: run them instead, e.g. `cpumon-server create-user alice`.
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

case "${CPUMON_MIGRATE:-true}" in
    0 | false | False | no | off) echo "cpumon-entrypoint: CPUMON_MIGRATE=${CPUMON_MIGRATE}, skipping migrations" >&2 ;;
    *)
        # PID 1 in a container gets no default signal handling: stop promptly while waiting.
        trap 'exit 143' TERM
        trap 'exit 130' INT
        timeout="${CPUMON_MIGRATE_TIMEOUT:-120}"
        deadline=$(($(date +%s) + timeout))
        attempt=1
        while ! out="$(cpumon-server migrate 2>&1)"; do
            if [ "$(date +%s)" -ge "$deadline" ]; then
                printf '%s\n' "$out" >&2
                echo "cpumon-entrypoint: migrations failed for ${timeout}s (CPUMON_MIGRATE_TIMEOUT); giving up" >&2
                exit 1
            fi
            last="$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1)"
            echo "cpumon-entrypoint: migrate attempt ${attempt} failed (${last}); retrying in 2s" >&2
            attempt=$((attempt + 1))
            sleep 2
        done
        [ -n "$out" ] && printf '%s\n' "$out" >&2
        echo "cpumon-entrypoint: migrations applied" >&2
        trap - TERM INT
        ;;
esac

exec cpumon-server
