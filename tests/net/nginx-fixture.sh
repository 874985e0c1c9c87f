# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Test fixture: a throw-away PKI (openssl CLI, EC P-256) and a real nginx serving
# HTTPS on 127.0.0.1, for the agent's HTTPS fetch tests.
#
# Source this file from a bash test (works with `set -u`, with or without `set -e`):
#
#   . "$TESTS/net/nginx-fixture.sh"
#   trap 'nginx_fixture_stop; rm -rf "$T"' EXIT   # the fixture installs NO traps:
#   nginx_fixture_start "$T" || exit 1             # the caller owns its EXIT trap
#
# nginx_fixture_start DIR
#   DIR is an existing scratch directory owned by the test. Creates
#     DIR/pki/  ca.pem ca.key              test root CA
#               other-ca.pem other-ca.key  an unrelated CA ("wrong CA" tests)
#               server.pem server.key      by ca; SAN IP:127.0.0.1, DNS:localhost; serverAuth
#               wrongname.pem wrongname.key  by ca; SAN DNS:wrong.example only
#               client.pem client.key      by ca; CN=gateway-0001; clientAuth
#               rogue-client.pem rogue-client.key  by other-ca; CN=gateway-0001; clientAuth
#     DIR/www/  the document root, shared by every server (tests drop files here)
#     DIR/nginx.conf, and nginx's pid, logs (error.log, access.log) and temp dirs, all in DIR
#   and starts nginx (daemonised) with three servers on 127.0.0.1, each on a free port:
#     NGINX_PORT            HTTPS, server.pem. Static files from www (ETag, Range,
#                           If-None-Match / If-Modified-Since -> 304), plus
#                             /mtls/...          the same files, but only for a client
#                                                certificate issued by ca (none -> 403,
#                                                one from another CA -> 400)
#                             /retry             429 with "Retry-After: 3"
#                             /redirect-http/X   302 to http://127.0.0.1:$NGINX_HTTP_PORT/X
#     NGINX_WRONGNAME_PORT  HTTPS, wrongname.pem (valid chain, wrong name), same root
#     NGINX_HTTP_PORT       plain HTTP, same root
#   All three answer 204 on /.fixture-ready (the readiness probe; don't use that name).
#   TLS 1.2 and 1.3 only. Returns once all three ports answer requests (bounded);
#   picks new ports and retries if one was taken meanwhile. On failure returns
#   non-zero with a message and the tail of nginx's error log on stderr.
#   Exports NGINX_PORT NGINX_WRONGNAME_PORT NGINX_HTTP_PORT NGINX_DIR NGINX_PID
#   NGINX_CA (=DIR/pki/ca.pem) NGINX_URL (=https://127.0.0.1:$NGINX_PORT)
#   NGINX_WRONGNAME_URL NGINX_HTTP_URL.
#   DIR must not contain blanks, quotes, backslashes, '$', ';' or braces (they would
#   break nginx.conf); mktemp names are fine. DIR/error.log (level info) tells why a
#   TLS handshake or request was refused.
#
# nginx_fixture_stop
#   Stops that nginx (SIGTERM, bounded wait, SIGKILL to master and workers as a last
#   resort). Safe to call twice, or when nothing was started.
#
# Running as root: the nginx master stays root (it reads the 0600 keys, opens the
# logs) and the workers run as `nobody`; DIR and DIR/www are made 0755 so that
# `nobody` can reach the files, which must be world-readable (the default umask
# 022 does that). If `nobody` cannot reach DIR/www (a parent directory is closed),
# the workers run as root instead, with a warning. NGINX_FIXTURE_USER overrides the
# worker user. As another user, everything runs as that user and no `user` directive
# is written, and NGINX_FIXTURE_USER is ignored.
#
# Never uses ports 80/443, /var/log/nginx, /run/nginx.pid or /etc/nginx. Needs
# nginx (NGINX_BIN, else PATH, else /usr/sbin/nginx), openssl, and coreutils `timeout`.

_nginx_fx_log() { echo "nginx-fixture: $*" >&2; }

_nginx_fx_bin() {
	if [ -n "${NGINX_BIN:-}" ]; then
		[ -x "$NGINX_BIN" ] || return 1
		echo "$NGINX_BIN"
	elif command -v nginx >/dev/null 2>&1; then
		command -v nginx
	elif [ -x /usr/sbin/nginx ]; then
		echo /usr/sbin/nginx
	elif [ -x /usr/local/sbin/nginx ]; then
		echo /usr/local/sbin/nginx
	else
		return 1
	fi
}

# _nginx_fx_port_busy PORT: true if something uses the port on this host.
_nginx_fx_port_busy() {
	local hex
	printf -v hex '%04X' "$1"
	# local or remote port of any TCP socket (over-approximation is fine)
	if grep -qs ":$hex " /proc/net/tcp /proc/net/tcp6; then
		return 0
	fi
	if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
		return 0
	fi
	return 1
}

# _nginx_fx_pick_ports: sets _nginx_fx_ports to three distinct free ports.
_nginx_fx_pick_ports() {
	local p tries=0
	_nginx_fx_ports=()
	while [ "${#_nginx_fx_ports[@]}" -lt 3 ]; do
		tries=$((tries + 1))
		if [ "$tries" -gt 500 ]; then
			_nginx_fx_log "no free port found in 20000-60000"
			return 1
		fi
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40001))
		case " ${_nginx_fx_ports[*]} " in *" $p "*) continue ;; esac
		if ! _nginx_fx_port_busy "$p"; then
			_nginx_fx_ports+=("$p")
		fi
	done
}

# _nginx_fx_pki DIR/pki: the whole PKI, EC P-256, into that directory.
_nginx_fx_pki() {
	local pki=$1 out=$1/openssl.log
	mkdir -p "$pki" || return 1
	# Our own config, so the system's openssl.cnf adds nothing.
	cat >"$pki/openssl.cnf" <<-'CNF'
		[ req ]
		distinguished_name = req_dn
		[ req_dn ]
		[ ca_ext ]
		basicConstraints = critical, CA:TRUE
		keyUsage = critical, keyCertSign, cRLSign
		subjectKeyIdentifier = hash
		[ server_ext ]
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature
		extendedKeyUsage = serverAuth
		subjectAltName = IP:127.0.0.1, DNS:localhost
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
		[ wrongname_ext ]
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature
		extendedKeyUsage = serverAuth
		subjectAltName = DNS:wrong.example
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
		[ client_ext ]
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature
		extendedKeyUsage = clientAuth
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid
	CNF
	: >"$out"
	local name subj ca ext
	# CAs: self-signed.
	for name in ca other-ca; do
		case $name in
		ca) subj="/O=st7dfu tests/CN=st7dfu test root CA" ;;
		*) subj="/O=st7dfu tests/CN=st7dfu unrelated CA" ;;
		esac
		openssl req -x509 -new -config "$pki/openssl.cnf" -extensions ca_ext \
			-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 3650 \
			-subj "$subj" -keyout "$pki/$name.key" -out "$pki/$name.pem" \
			</dev/null >>"$out" 2>&1 || {
			_nginx_fx_log "openssl: cannot make $name:"
			tail -n 20 "$out" >&2
			return 1
		}
	done
	# Leaves: name, issuer, extensions section, subject.
	while read -r name ca ext subj; do
		{ openssl req -new -config "$pki/openssl.cnf" \
			-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
			-subj "$subj" -keyout "$pki/$name.key" -out "$pki/$name.csr" \
			</dev/null >>"$out" 2>&1 &&
			openssl x509 -req -in "$pki/$name.csr" -sha256 -days 825 \
				-CA "$pki/$ca.pem" -CAkey "$pki/$ca.key" \
				-CAcreateserial -CAserial "$pki/$ca.srl" \
				-extfile "$pki/openssl.cnf" -extensions "$ext" \
				-out "$pki/$name.pem" </dev/null >>"$out" 2>&1; } || {
			_nginx_fx_log "openssl: cannot make $name:"
			tail -n 20 "$out" >&2
			return 1
		}
		rm -f "$pki/$name.csr"
	done <<-'LEAVES'
		server ca server_ext /O=st7dfu tests/CN=localhost
		wrongname ca wrongname_ext /O=st7dfu tests/CN=wrong.example
		client ca client_ext /O=st7dfu tests/CN=gateway-0001
		rogue-client other-ca client_ext /O=st7dfu tests/CN=gateway-0001
	LEAVES
	chmod 0600 "$pki"/*.key && chmod 0644 "$pki"/*.pem
}

# _nginx_fx_conf DIR USERLINE PORT WRONGNAME_PORT HTTP_PORT: writes DIR/nginx.conf.
_nginx_fx_conf() {
	local d=$1 userline=$2 p=$3 w=$4 h=$5
	cat >"$d/nginx.conf" <<-CONF
		# Generated by tests/net/nginx-fixture.sh; standalone (nothing from /etc/nginx).
		$userline
		daemon on;
		master_process on;
		worker_processes 1;
		pid "$d/nginx.pid";
		lock_file "$d/nginx.lock";
		error_log "$d/error.log" info;

		events {
		    worker_connections 256;
		}

		http {
		    access_log "$d/access.log";
		    client_body_temp_path "$d/tmp/client_body";
		    proxy_temp_path "$d/tmp/proxy";
		    fastcgi_temp_path "$d/tmp/fastcgi";
		    uwsgi_temp_path "$d/tmp/uwsgi";
		    scgi_temp_path "$d/tmp/scgi";

		    types {
		        text/plain txt;
		        text/html html;
		        application/json json;
		    }
		    default_type application/octet-stream;
		    server_tokens off;
		    etag on;
		    if_modified_since exact;

		    ssl_protocols TLSv1.2 TLSv1.3;

		    # main: valid certificate; optional client certificates for /mtls/
		    server {
		        listen 127.0.0.1:$p ssl;
		        server_name localhost;
		        ssl_certificate "$d/pki/server.pem";
		        ssl_certificate_key "$d/pki/server.key";
		        ssl_client_certificate "$d/pki/ca.pem";
		        ssl_verify_client optional;
		        root "$d/www";

		        location / {
		        }
		        location = /.fixture-ready {
		            return 204;
		        }
		        location /mtls/ {
		            if (\$ssl_client_verify != SUCCESS) {
		                return 403;
		            }
		            alias "$d/www/";
		        }
		        # The same files at 4 KiB/s: long enough to kill a download midway.
		        location /slow/ {
		            alias "$d/www/";
		            limit_rate 4k;
		        }
		        location = /retry {
		            add_header Retry-After 3 always;
		            return 429;
		        }
		        location /redirect-http/ {
		            rewrite ^/redirect-http/(.*)\$ http://127.0.0.1:$h/\$1 redirect;
		        }
		    }

		    # wrongname: chain valid against ca, but the name is wrong.example
		    server {
		        listen 127.0.0.1:$w ssl;
		        server_name localhost;
		        ssl_certificate "$d/pki/wrongname.pem";
		        ssl_certificate_key "$d/pki/wrongname.key";
		        root "$d/www";
		        location = /.fixture-ready {
		            return 204;
		        }
		    }

		    # plain HTTP (for --allow-http)
		    server {
		        listen 127.0.0.1:$h;
		        server_name localhost;
		        root "$d/www";
		        location = /.fixture-ready {
		            return 204;
		        }
		    }
		}
	CONF
}

# _nginx_fx_ready_http PORT / _nginx_fx_ready_https PORT: our nginx answers on PORT.
_nginx_fx_ready_http() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf 'GET /.fixture-ready HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
		IFS= read -r -t 2 line <&3 || exit 1
		case $line in "HTTP/1."?" 204"*) exit 0 ;; esac
		exit 1
	) 2>/dev/null
}

_nginx_fx_ready_https() {
	local line
	line=$(printf 'GET /.fixture-ready HTTP/1.0\r\nHost: localhost\r\n\r\n' |
		timeout 3 openssl s_client -quiet -connect "127.0.0.1:$1" -servername localhost 2>/dev/null |
		head -n 1)
	case $line in "HTTP/1."?" 204"*) return 0 ;; esac
	return 1
}

# _nginx_fx_alive PID: PID exists and is not a zombie.
_nginx_fx_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# _nginx_fx_ours PID DIR: PID is the nginx master started on DIR/nginx.conf.
_nginx_fx_ours() {
	local cmd
	cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	case $cmd in *nginx*"$2/nginx.conf"*) return 0 ;; esac
	# The process title may be cut; its open error log tells too.
	[ "$(readlink "/proc/$1/fd/2" 2>/dev/null)" = "$2/error.log" ]
}

# _nginx_fx_children PID: pids whose parent is PID.
_nginx_fx_children() {
	local f stat rest
	for f in /proc/[0-9]*/stat; do
		stat=$(cat "$f" 2>/dev/null) || continue
		rest=${stat##*) }
		rest=${rest#* }
		if [ "${rest%% *}" = "$1" ]; then
			f=${f#/proc/}
			echo "${f%/stat}"
		fi
	done
}

_nginx_fx_tail() {
	local f
	for f in "$@"; do
		if [ -s "$f" ]; then
			echo "--- tail of $f:" >&2
			tail -n 15 "$f" >&2
		fi
	done
}

nginx_fixture_start() {
	local dir=${1:-} bin userline="# (not root: no user directive)" wuser wgroup attempt pid i rc n
	if [ -n "${_NGINX_FX_DIR:-}" ]; then
		_nginx_fx_log "already started in $_NGINX_FX_DIR; call nginx_fixture_stop first"
		return 1
	fi
	if [ -z "$dir" ] || [ ! -d "$dir" ]; then
		_nginx_fx_log "usage: nginx_fixture_start EXISTING_DIR"
		return 1
	fi
	dir=$(cd "$dir" && pwd -P) || return 1
	case $dir in *[\"\\\$\;{}\ \	]*)
		_nginx_fx_log "unsupported characters in directory name: $dir"
		return 1
		;;
	esac
	if ! bin=$(_nginx_fx_bin); then
		_nginx_fx_log "nginx not found (set NGINX_BIN)"
		return 1
	fi
	if ! command -v openssl >/dev/null 2>&1; then
		_nginx_fx_log "openssl not found"
		return 1
	fi

	_nginx_fx_pki "$dir/pki" || return 1
	mkdir -p "$dir/www" "$dir/tmp" || return 1

	if [ "$(id -u)" -eq 0 ]; then
		# Workers run unprivileged; they must reach DIR/www.
		chmod 0755 "$dir" "$dir/www" "$dir/pki" || return 1
		wuser=${NGINX_FIXTURE_USER:-nobody}
		wgroup=$(id -gn "$wuser" 2>/dev/null) || wgroup=$wuser
		if [ "$wuser" != root ] && command -v setpriv >/dev/null 2>&1 &&
			! setpriv --reuid="$wuser" --regid="$wgroup" --clear-groups -- \
				test -r "$dir/www" -a -x "$dir/www" 2>/dev/null; then
			_nginx_fx_log "warning: user $wuser cannot reach $dir/www; nginx workers run as root"
			wuser=root
			wgroup=$(id -gn root)
		fi
		userline="user $wuser $wgroup;"
	fi

	n=5
	for attempt in $(seq 1 "$n"); do
		_nginx_fx_pick_ports || return 1
		_nginx_fx_conf "$dir" "$userline" "${_nginx_fx_ports[@]}" || return 1
		rm -f "$dir/nginx.pid"
		: >"$dir/error.log"
		rc=0
		"$bin" -e "$dir/error.log" -p "$dir/" -c "$dir/nginx.conf" \
			</dev/null >"$dir/nginx.out" 2>&1 || rc=$?
		if [ "$rc" -ne 0 ]; then
			if grep -qs 'Address already in use' "$dir/nginx.out" "$dir/error.log" &&
				[ "$attempt" -lt "$n" ]; then
				_nginx_fx_log "port taken meanwhile (attempt $attempt); new ports"
				continue
			fi
			_nginx_fx_log "nginx failed to start (exit $rc)"
			_nginx_fx_tail "$dir/nginx.out" "$dir/error.log"
			return 1
		fi
		break
	done

	# The master writes its pid file after daemonising: wait for it, then for
	# every port to answer a request (at most ~5 s in all).
	pid=""
	for i in $(seq 1 50); do
		if [ -z "$pid" ] && [ -s "$dir/nginx.pid" ]; then
			read -r pid <"$dir/nginx.pid"
			_NGINX_FX_DIR=$dir
			_NGINX_FX_PID=$pid
		fi
		if [ -n "$pid" ] &&
			_nginx_fx_ready_http "${_nginx_fx_ports[2]}" &&
			_nginx_fx_ready_https "${_nginx_fx_ports[0]}" &&
			_nginx_fx_ready_https "${_nginx_fx_ports[1]}"; then
			break
		fi
		if [ -n "$pid" ] && ! _nginx_fx_alive "$pid"; then
			i=50
		fi
		if [ "$i" -ge 50 ]; then
			_nginx_fx_log "nginx did not come up on ports ${_nginx_fx_ports[*]} (pid ${pid:-none})"
			_nginx_fx_tail "$dir/nginx.out" "$dir/error.log"
			# Still stop what might be running: the master from the pid file.
			_NGINX_FX_DIR=$dir
			_NGINX_FX_PID=$pid
			nginx_fixture_stop
			return 1
		fi
		sleep 0.1
	done

	export NGINX_DIR=$dir
	export NGINX_PID=$pid
	export NGINX_PORT=${_nginx_fx_ports[0]}
	export NGINX_WRONGNAME_PORT=${_nginx_fx_ports[1]}
	export NGINX_HTTP_PORT=${_nginx_fx_ports[2]}
	export NGINX_CA=$dir/pki/ca.pem
	export NGINX_URL=https://127.0.0.1:$NGINX_PORT
	export NGINX_WRONGNAME_URL=https://127.0.0.1:$NGINX_WRONGNAME_PORT
	export NGINX_HTTP_URL=http://127.0.0.1:$NGINX_HTTP_PORT
	return 0
}

nginx_fixture_stop() {
	local dir=${_NGINX_FX_DIR:-} master=${_NGINX_FX_PID:-} kids p i rc=0
	[ -n "$dir" ] || return 0
	if [ -z "$master" ] && [ -s "$dir/nginx.pid" ]; then
		read -r master <"$dir/nginx.pid"
	fi
	if [ -n "$master" ] && _nginx_fx_alive "$master" && _nginx_fx_ours "$master" "$dir"; then
		kids=$(_nginx_fx_children "$master")
		kill -TERM "$master" 2>/dev/null || true
		for i in $(seq 1 50); do
			_nginx_fx_alive "$master" || break
			sleep 0.1
		done
		if _nginx_fx_alive "$master"; then
			_nginx_fx_log "nginx $master ignored SIGTERM; SIGKILL"
			kids="$kids $(_nginx_fx_children "$master")"
			kill -KILL "$master" 2>/dev/null || true
		fi
		# Workers normally exit with their master; make sure of it.
		for p in $kids; do
			if _nginx_fx_alive "$p"; then
				kill -KILL "$p" 2>/dev/null || true
			fi
		done
		for i in $(seq 1 20); do
			rc=0
			for p in "$master" $kids; do
				if _nginx_fx_alive "$p"; then
					rc=1
				fi
			done
			[ "$rc" -eq 0 ] && break
			sleep 0.1
		done
		if [ "$rc" -ne 0 ]; then
			_nginx_fx_log "nginx processes still alive after SIGKILL"
		fi
	fi
	unset _NGINX_FX_DIR _NGINX_FX_PID
	return "$rc"
}
