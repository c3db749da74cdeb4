#!/usr/bin/env bash
# First start only (docker-entrypoint-initdb.d): the dashboards' read-only role. The password comes
# from the container's GRAFANA_RO_PASSWORD and goes to the server as a psql variable, never into a file.
# `sdrun setup-db` does the same idempotently on any server.
set -euo pipefail
psql -v ON_ERROR_STOP=1 -v ro_password="$GRAFANA_RO_PASSWORD" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
select format('create role grafana_ro login password %L', :'ro_password')
where not exists (select 1 from pg_roles where rolname = 'grafana_ro') \gexec
alter role grafana_ro set default_transaction_read_only = on;
grant connect on database servicedesk to grafana_ro;
SQL
