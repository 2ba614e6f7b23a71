#!/bin/bash
# 68-status-shed: sd_notify STATUS= shows the load level of the worst
# worker (issue 17), not only refusals: a flood for a slow hook fills
# max_separate (as in 62-shed), the next STATUS= says "load shedding (1 of
# 2 workers)" with the refusals counted, and once the hooks are done a
# later one says "load normal" again.  STATUS= is refreshed every 5 s, so
# this takes ~12 s.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
make_www
cat >"$T/slow.sh" <<'SH'
#!/bin/sh
sleep 6
echo slow
SH
chmod +x "$T/slow.sh"
cat >"$T/coapd.conf" <<CONF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
workers = 2;
max_separate = 4;
separate_after_ms = 100;
hooks = { tmp_dir = "$T"; };
routes = (
  { path = "/hello"; static = "$T/www/hello.txt"; },
  { path = "/slow"; hook = [ "$T/slow.sh" ]; max_running = 8;
    run_as_root = true; }
);
CONF

SOCK="coapd-test-status-$$"
NLOG="$T/notify.log"
notify_listen "$SOCK" "$NLOG" || fail "the notify listener is not bound"
export NOTIFY_SOCKET="@$SOCK"
start_coapd "$T/coapd.conf"
unset NOTIFY_SOCKET

# wait_notify TEXT SECONDS: until a line with TEXT is in the notify log.
wait_notify() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		grep -q -- "$1" "$NLOG" && return 0
		sleep 0.1
	done
	return 1
}
assert_true "READY=1 sent" wait_notify "READY=1" 5

# The flood: 100 NONs for the slow hook from one address (one worker).
python3 - <<'PY'
import os, time
import coap
from coap import Client
f = Client(int(os.environ["PORT"]), src="127.0.0.3")
for i in range(100):
    f.send(f.build(coap.GET, "/slow", mtype=coap.NON))
PY
assert_true "STATUS= says shedding while the hooks run" \
    wait_notify "STATUS=.*load shedding (1 of 2 workers), [0-9]* refused" 7
grep "STATUS=" "$NLOG" | tail -n 2 | sed 's/^/# /'
n=$(grep -c "STATUS=" "$NLOG")
# the hooks end 6 s after the flood, the level falls a second later
ok=""
for ((i = 0; i < 130; i++)); do
	if [ "$(grep -c "STATUS=" "$NLOG")" -gt "$n" ] &&
	    grep "STATUS=" "$NLOG" | tail -n 1 | grep -q "load normal"; then
		ok=1
		break
	fi
	sleep 0.1
done
assert_true "a later STATUS= says load normal again" test -n "$ok"
grep "STATUS=" "$NLOG" | tail -n 1 | sed 's/^/# /'
finish
