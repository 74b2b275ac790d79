#!/bin/bash
# Entrypoint of the MySQL stand-in (see mysql-standin.Containerfile). Like the official image:
# on an empty data dir it initialises the server on a socket only (no TCP, so a TCP health check
# cannot pass early), sets the root password, creates MYSQL_DATABASE and MYSQL_USER with all
# privileges on it, shuts down, then runs the server in the foreground on 0.0.0.0:3306.
set -euo pipefail

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
log() { printf '%s [Entrypoint]: %s\n' "$(date -u +%FT%TZ)" "$*" >&2; }

if [[ ${1:-} != mariadbd && ${1:-} != mysqld ]]; then
    exec "$@"
fi
shift

mkdir -p /run/mysqld
chown mysql:mysql /run/mysqld "$DATADIR"

sql_escape() { printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g"; }
ident_escape() { printf '%s' "$1" | sed -e 's/`/``/g'; }

if [[ ! -d $DATADIR/mysql ]]; then
    if [[ -z ${MYSQL_ROOT_PASSWORD:-} && -z ${MYSQL_ALLOW_EMPTY_PASSWORD:-} && -z ${MYSQL_RANDOM_ROOT_PASSWORD:-} ]]; then
        log "error: database is uninitialized and password option is not specified"
        log "  You need to specify one of MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD and MYSQL_RANDOM_ROOT_PASSWORD"
        exit 1
    fi
    if [[ -n ${MYSQL_USER:-} && -z ${MYSQL_PASSWORD:-} ]]; then
        log "error: MYSQL_USER is set but MYSQL_PASSWORD is not"
        exit 1
    fi
    if [[ ${MYSQL_USER:-} == root ]]; then
        log "error: MYSQL_USER=root is not allowed; use MYSQL_ROOT_PASSWORD for root"
        exit 1
    fi
    log "initializing database files"
    mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db \
        --auth-root-authentication-method=normal >/dev/null
    log "starting temporary server (socket only)"
    mariadbd --user=mysql --datadir="$DATADIR" --skip-networking --socket="$SOCKET" &
    tmp_pid=$!
    for _ in $(seq 60); do
        mariadb-admin --socket="$SOCKET" -uroot ping >/dev/null 2>&1 && break
        sleep 0.5
    done
    mariadb-admin --socket="$SOCKET" -uroot ping >/dev/null

    root_pw=${MYSQL_ROOT_PASSWORD:-}
    if [[ -n ${MYSQL_RANDOM_ROOT_PASSWORD:-} ]]; then
        root_pw="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        log "GENERATED ROOT PASSWORD: $root_pw"
    fi
    {
        echo "SET @@SESSION.SQL_LOG_BIN=0;"
        echo "DELETE FROM mysql.global_priv WHERE User='' OR (User='root' AND Host NOT IN ('localhost'));"
        echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$(sql_escape "$root_pw")';"
        echo "CREATE USER 'root'@'%' IDENTIFIED BY '$(sql_escape "$root_pw")';"
        echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
        if [[ -n ${MYSQL_DATABASE:-} ]]; then
            echo "CREATE DATABASE IF NOT EXISTS \`$(ident_escape "$MYSQL_DATABASE")\`;"
        fi
        if [[ -n ${MYSQL_USER:-} ]]; then
            echo "CREATE USER '$(sql_escape "$MYSQL_USER")'@'%' IDENTIFIED BY '$(sql_escape "$MYSQL_PASSWORD")';"
            if [[ -n ${MYSQL_DATABASE:-} ]]; then
                echo "GRANT ALL ON \`$(ident_escape "$MYSQL_DATABASE")\`.* TO '$(sql_escape "$MYSQL_USER")'@'%';"
            fi
        fi
        echo "FLUSH PRIVILEGES;"
    } | mariadb --socket="$SOCKET" -uroot
    log "shutting down temporary server"
    kill "$tmp_pid"
    wait "$tmp_pid" || true
    log "init done"
fi

log "starting mariadbd on 0.0.0.0:3306"
exec mariadbd --user=mysql --datadir="$DATADIR" --socket="$SOCKET" \
    --bind-address=0.0.0.0 --port=3306 --skip-name-resolve \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci "$@"
