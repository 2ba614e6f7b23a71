#!/bin/bash
# make install and make uninstall into a staging tree under $T: the file
# list, the config rewritten only where it names the demo files (and
# passing coapd -t where it was installed), a second install over an
# edited config keeping the edit (coapd.conf.new beside it), and uninstall
# leaving only the operator's config.
source "$(dirname "$0")/lib.sh"
need_cmd make sed find diff

R=$T/root
# every directory under $R, so that the installed config points at the
# installed demo tree and coapd -t can check it as installed
DIRS=(prefix="$R/usr" sysconfdir="$R/etc" unitdir="$R/lib/systemd/system"
    sysctldir="$R/usr/lib/sysctl.d" statedir="$R/var/lib/coapd")
inst() {
	make --no-print-directory -C "$TOP" "$@" "${DIRS[@]}" >"$T/make.out" 2>&1
}
listing() {
	(cd "$R" && find . -mindepth 1 \( -type f -o -type l \) -printf '%P %m\n' |
	    sort)
}

# What the tree must hold: fixed files, the demo tree, each man page, and
# coapd-ctl when the build has one.
want_list() {
	{
		echo "etc/coapd.conf 644"
		echo "lib/systemd/system/coapd.service 644"
		echo "usr/lib/sysctl.d/60-coapd.conf 644"
		echo "usr/sbin/coapd 755"
		echo "usr/sbin/coapd-ctl 755"
		echo "usr/share/bash-completion/completions/coapd-ctl 644"
		(cd "$TOP/conf" && find demo demo-hooks -type f -printf \
		    'usr/share/coapd/%p %m\n')
		for m in "$TOP"/man/*.[0-9]; do
			echo "usr/share/man/man${m##*.}/${m##*/} 644"
		done
	} | sort
}

# --- first install -----------------------------------------------------------
inst install || { cat "$T/make.out"; fail "make install failed"; }
assert_contains "$(cat "$T/make.out")" "installed $R/etc/coapd.conf" \
    "first install says it installed coapd.conf"
want_list >"$T/want"
listing >"$T/got"
assert_true "first install: the file list" diff -u "$T/want" "$T/got"
diff -u "$T/want" "$T/got"
assert_true "the state directory holds only the empty upload area" \
    test -d "$R/var/lib/coapd/upload" -a "$(ls -A "$R/var/lib/coapd")" = upload \
    -a -z "$(ls -A "$R/var/lib/coapd/upload")"

# only static/hook values naming the demo files changed, the upload area
# moved to the state directory, and the coaps listener and psk_file
# (the credential) commented out
diff "$TOP/conf/coapd.conf" "$R/etc/coapd.conf" | sed -n 's/^> //p' \
    >"$T/changed"
assert_true "some lines were rewritten" test -s "$T/changed"
assert_eq "$(grep -Ev "^[#[:space:]]*(static|hook)[[:space:]]*=[[:space:][]*\"($R/usr/share/coapd/demo|$R/var/lib/coapd/upload\")" "$T/changed" |
    grep -Fvx -e '#	, { address = "::"; port = 5684; dtls = true; }' \
        -e '#	psk_file = "credential:coapd.psk";')" "" \
    "only demo paths changed, coaps and psk_file commented out"
assert_contains "$(cat "$R/etc/coapd.conf")" \
    "static = \"$R/var/lib/coapd/upload\";" "the upload area is in the state directory"
assert_contains "$(cat "$R/etc/coapd.conf")" 'rt = "demo.greeting";' \
    'rt = "demo.greeting" is not taken for a path'
assert_contains "$(cat "$R/etc/coapd.conf")" \
    "static = \"$R/usr/share/coapd/demo/hello.txt\";" "static path rewritten"
assert_contains "$(cat "$R/etc/coapd.conf")" \
    "hook = [ \"$R/usr/share/coapd/demo-hooks/status.sh\" ];" \
    "hook path rewritten"
out=$("$R/usr/sbin/coapd" -t -c "$R/etc/coapd.conf" 2>&1)
assert_eq "$out" "$R/etc/coapd.conf: configuration OK" \
    "coapd -t passes on the installed config"

# --- second install over an edited config ------------------------------------
sed -i 's/^workers = 0;/workers = 3;	# edited by the operator/' \
    "$R/etc/coapd.conf"
cp "$R/etc/coapd.conf" "$T/edited"
inst install || { cat "$T/make.out"; fail "second make install failed"; }
assert_contains "$(cat "$T/make.out")" \
    "$R/etc/coapd.conf exists and is kept; the new one is $R/etc/coapd.conf.new" \
    "second install says where the new config went"
assert_file_eq "$R/etc/coapd.conf" "$T/edited" "the edit survives"
assert_true "coapd.conf.new is the fresh config" \
    cmp -s "$R/etc/coapd.conf.new" "$(dirname "$COAPD")/coapd.conf.install"
{ cat "$T/want"; echo "etc/coapd.conf.new 644"; } | sort >"$T/want2"
listing >"$T/got"
assert_true "second install: the file list" diff -u "$T/want2" "$T/got"
diff -u "$T/want2" "$T/got"

# --- uninstall ----------------------------------------------------------------
inst uninstall || { cat "$T/make.out"; fail "make uninstall failed"; }
assert_contains "$(cat "$T/make.out")" "$R/etc/coapd.conf is kept" \
    "uninstall says the config is kept"
listing >"$T/got"
assert_eq "$(cat "$T/got")" "etc/coapd.conf 644" \
    "uninstall leaves only the operator's config"
assert_true "the empty state directory is gone" test ! -e "$R/var/lib/coapd"
finish
