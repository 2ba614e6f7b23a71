#!/bin/sh
# coapd demo hook: the gateway's uptime and load as JSON, with a header
# block (headers = true): Content-Format 50 is application/json.
read -r up _ </proc/uptime
read -r l1 l5 l15 _ </proc/loadavg
printf 'Content-Format: 50\nMax-Age: 5\n\n'
printf '{"gateway":"%s","uptime_s":%s,"load":[%s,%s,%s],"client":"%s"}\n' \
    "$GATEWAY_NAME" "${up%.*}" "$l1" "$l5" "$l15" "$REMOTE_ADDR"
