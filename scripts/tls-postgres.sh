#!/usr/bin/env bash
# A second PostgreSQL cluster that accepts only TLS connections, with a CA generated here, so tests
# can connect the way the Lambdas connect to RDS (sslmode=verify-full against a CA bundle). The
# machine's own server (5432) is not touched. Idempotent: when the cluster already runs it only
# prints its variables. Prints, one per line:
#   TLS_DATABASE_URL=postgres://postgres@localhost:<port>/postgres?sslmode=verify-full&sslrootcert=<ca>
#   TLS_DATABASE_PORT, TLS_DATABASE_CA (the CA that signed the server) and TLS_DATABASE_WRONG_CA
#   (a CA that did not, for the failure test).
# Settings: TLS_POSTGRES_DIR (default /tmp/molecule-tls-postgres), TLS_POSTGRES_PORT (default 5433).
set -euo pipefail

dir="${TLS_POSTGRES_DIR:-/tmp/molecule-tls-postgres}"
port="${TLS_POSTGRES_PORT:-5433}"
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9 # tests and CI may start it at the same time

bindir="$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
# initdb refuses to run as root: the cluster belongs to the postgres OS user then.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ ! -f "$dir/ca.pem" ]; then
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=molecule test CA' -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=some other CA' -keyout wrong-ca.key -out wrong-ca.pem 2>/dev/null
    # The name the tests connect to is in the certificate; 127.0.0.1 is not, so host name checks are exercised.
    openssl req -newkey rsa:2048 -nodes -subj '/CN=localhost' -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=DNS:localhost\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 -extfile server.ext -out server.pem 2>/dev/null
    chmod 600 server.key
  )
fi

if [ ! -f "$dir/data/PG_VERSION" ]; then
  rm -rf "$dir/data"
  mkdir -p "$dir/data"
  [ "$(id -u)" = 0 ] && chown -R postgres "$dir"
  as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust >/dev/null
  cat >> "$dir/data/postgresql.conf" <<CONF
port = $port
listen_addresses = 'localhost'
unix_socket_directories = '$dir'
ssl = on
ssl_cert_file = '$dir/server.pem'
ssl_key_file = '$dir/server.key'
CONF
  # TCP only over TLS; a plain connection is refused.
  cat > "$dir/data/pg_hba.conf" <<HBA
local     all all               trust
hostssl   all all 127.0.0.1/32  trust
hostssl   all all ::1/128       trust
hostnossl all all 0.0.0.0/0     reject
hostnossl all all ::/0          reject
HBA
fi

if ! "$bindir/pg_isready" -q -h localhost -p "$port"; then
  [ "$(id -u)" = 0 ] && chown -R postgres "$dir"
  # The server must not inherit the lock (fd 9), or it would hold it for as long as it runs.
  as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null 9>&-
fi

echo "TLS_DATABASE_URL=postgres://postgres@localhost:$port/postgres?sslmode=verify-full&sslrootcert=$dir/ca.pem"
echo "TLS_DATABASE_PORT=$port"
echo "TLS_DATABASE_CA=$dir/ca.pem"
echo "TLS_DATABASE_WRONG_CA=$dir/wrong-ca.pem"
