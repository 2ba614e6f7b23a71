#!/bin/bash
# 20-wellknown: /.well-known/core (RFC 6690) lists the routes with their
# attributes and honours the ?rt= and ?href= filters.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
export PORT
make_www
std_conf "$T/coapd.conf"
start_coapd "$T/coapd.conf"

wk="coap://127.0.0.1:$PORT/.well-known/core"

out=$(coap_get "$wk")
assert_contains "$out" "</hello>" "listing has </hello>"
assert_contains "$out" "</files>" "listing has </files>"
assert_contains "$out" 'rt="greeting"' 'listing has rt="greeting"'
assert_contains "$out" 'title="Hello"' 'listing has title="Hello"'
assert_contains "$out" 'rt="files"' 'listing has rt="files"'
assert_contains "$out" 'ct=40' 'listing has ct=40'
assert_not_contains "$out" "</.well-known/core>" "listing leaves itself out"

out=$(coap_get "coap://[::1]:$PORT/.well-known/core")
assert_contains "$out" "</hello>" "listing over [::1]"

out=$(coap_get "$wk?rt=greeting")
assert_contains "$out" "</hello>" "?rt=greeting lists /hello"
assert_not_contains "$out" "</files>" "?rt=greeting leaves /files out"

out=$(coap_get "$wk?href=/files*")
assert_contains "$out" "</files>" "?href=/files* lists /files"
assert_not_contains "$out" "</hello>" "?href=/files* leaves /hello out"

out=$(coap_get "$wk?rt=gree*")
assert_contains "$out" "</hello>" "?rt=gree* (prefix) lists /hello"
assert_not_contains "$out" "</files>" "?rt=gree* leaves /files out"

out=$(coap_get "$wk?title=Hello")
assert_contains "$out" "</hello>" "?title=Hello lists /hello"

out=$(coap_get "$wk?rt=nothing")
assert_not_contains "$out" "</" "?rt=nothing lists nothing"

py_checks "raw /.well-known/core checks" <<'EOF'
import os
import coap
from coap import Client, Checker

port = int(os.environ["PORT"])
ck = Checker("20-wellknown")
with Client(port) as c:
    m = c.get("/.well-known/core")
    ck.code(m, coap.CONTENT, "GET /.well-known/core is 2.05")
    if m:
        ck.eq(m.uint(coap.CONTENT_FORMAT), 40, "Content-Format 40")
        links = m.payload.decode(errors="replace").split(",")
        hello = [l for l in links if l.startswith("</hello>")]
        files = [l for l in links if l.startswith("</files>")]
        ck.eq(len(hello), 1, "one link for /hello")
        ck.eq(len(files), 1, "one link for /files")
        if hello:
            ck.ok('rt="greeting"' in hello[0] and 'title="Hello"' in hello[0],
                  "/hello link carries rt and title", hello[0])
        if files:
            ck.ok('rt="files"' in files[0] and ";ct=40" in files[0],
                  "/files link carries rt and ct", files[0])
    m = c.get("/.well-known/core", options=[(coap.ACCEPT, 40)])
    ck.code(m, coap.CONTENT, "Accept: 40 is 2.05")
    m = c.get("/.well-known/core", options=[(coap.ACCEPT, 50)])
    ck.code(m, coap.NOT_ACCEPTABLE, "Accept: 50 is 4.06")
    m = c.request(coap.POST, "/.well-known/core", payload=b"x")
    ck.code(m, coap.METHOD_NOT_ALLOWED, "POST /.well-known/core is 4.05")
    m = c.get("/.well-known/core?rt=greeting&title=Hello")
    ck.ok(m is not None and b"</hello>" in m.payload and
          b"</files>" not in m.payload, "two filters", repr(m))
ck.done()
EOF
stop_coapd

# A directory route at "/" (serve a whole tree) must not hide discovery:
# /.well-known/core is answered by coapd, not looked up in the tree.
cat >"$T/root.conf" <<EOF
listen = ( { address = "127.0.0.1"; port = $PORT; } );
workers = 1;
routes = (
  { path = "/"; static = "$T/www"; rt = "tree"; },
  { path = "/hello"; static = "$T/www/hello.txt"; rt = "greeting"; }
);
EOF
start_coapd "$T/root.conf"
out=$(coap_get "$wk")
assert_contains "$out" "</hello>" "with a route at /, /.well-known/core still lists /hello"
assert_contains "$out" 'rt="tree"' "with a route at /, /.well-known/core lists /"
coap_get "coap://127.0.0.1:$PORT/data.json" >"$T/got"
assert_file_eq "$T/got" "$T/www/data.json" "the route at / serves the tree"
stop_coapd

# More links than one 1024-byte message holds: served with Block2
# (RFC 7959 §2.4), as directory listings are, not refused.
{
	echo "listen = ( { address = \"127.0.0.1\"; port = $PORT; } );"
	echo "workers = 1;"
	echo "routes = ("
	for ((i = 1; i <= 40; i++)); do
		[ "$i" -gt 1 ] && echo ","
		echo "{ path = \"/sensors/room-$i/temperature\";" \
		    "static = \"$T/www/hello.txt\"; rt = \"temperature-c\";" \
		    "title = \"Room $i temperature\"; }"
	done
	echo ");"
} >"$T/many.conf"
start_coapd "$T/many.conf"
out=$(coap_get "$wk")
n=$(grep -o '</sensors/room-[0-9]*/temperature>' <<<"$out" | sort -u | wc -l)
assert_eq "$n" 40 "a 3 KB /.well-known/core lists all 40 routes"
assert_not_contains "$(cat "$COAP_ERR")" "5.00" "a large /.well-known/core is no 5.00"
out=$(coap_get "$wk?title=Room%2017*")
assert_contains "$out" "</sensors/room-17/temperature>" "a filter on a large listing"

finish
