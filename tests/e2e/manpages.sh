#!/bin/bash
# The man pages agree with --help: every option (and environment
# variable) that a program's --help names appears in its man page, and
# every option the man page's OPTIONS section documents appears in
# --help. Pages are rendered by man-db (what a user reads), not grepped
# as roff source. Also: each page renders without groff warnings, and
# names the version the programs report.
. "$(dirname "$0")/lib.sh"

command -v man > /dev/null || fail "man (man-db) is not installed"
M=$IST_SRC/docs/man
check() {
	local prog=$1 page=$2
	"$IST_BIN/$prog" --help > "$T/$prog.help" ||
		fail "$prog --help failed"
	LC_ALL=C MANWIDTH=200 man --warnings -l "$M/$page" \
		2> "$T/$page.warn" | col -b > "$T/$page.txt"
	[ -s "$T/$page.txt" ] || fail "$page does not render"
	[ ! -s "$T/$page.warn" ] ||
		fail "$page: groff warnings: $(cat "$T/$page.warn")"
	"$IST_PY" - "$T/$prog.help" "$T/$page.txt" "$prog" "$page" <<'PY'
import re, sys
help_text = open(sys.argv[1]).read()
man = open(sys.argv[2]).read()
prog, page = sys.argv[3], sys.argv[4]
for ch in "\u2010\u2011\u2212":
    man = man.replace(ch, "-")
# Joined lines: a long option may wrap in the rendered page.
man = re.sub(r"-\n\s*", "-", man)
OPT = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*[a-z0-9]|-[a-zA-Z])(?![\w-])")
ENV = re.compile(r"(?<![\w$])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)(?![\w])")
def section(text, name):
    m = re.search(r"^%s\n(.*?)(?=^[A-Z][A-Z ]+\n|\Z)" % name, text,
                  re.M | re.S)
    return m.group(1) if m else ""
man_opts = set(OPT.findall(section(man, "OPTIONS")))
if not man_opts:
    sys.exit("%s: no OPTIONS section" % page)
help_opts = set(OPT.findall(help_text))
all_man_opts = set(OPT.findall(man))
bad = []
for o in sorted(help_opts - all_man_opts):
    bad.append("%s --help names %s, %s does not" % (prog, o, page))
for o in sorted(man_opts - help_opts):
    bad.append("%s documents %s in OPTIONS, %s --help does not" %
               (page, o, prog))
for v in sorted(set(ENV.findall(help_text)) - set(ENV.findall(man))):
    bad.append("%s --help names %s, %s does not" % (prog, v, page))
if bad:
    sys.exit("\n".join(bad))
print("%s: %d options, both ways" % (page, len(help_opts)))
PY
	[ $? -eq 0 ] || fail "$page and $prog --help disagree"
	ver=$("$IST_BIN/$prog" --version | sed 's/.* //')
	grep -q "^\.TH .*\"iot-ssh-proxy $ver\"" "$M/$page" ||
		fail "$page does not name version $ver"
}
check iot-ssh-proxy iot-ssh-proxy.1
check iot-tunnel-agent iot-tunnel-agent.8
check iot-tunnel-emulator iot-tunnel-emulator.1
# The hooks page: each hook and library helper the README lists.
LC_ALL=C MANWIDTH=200 man --warnings -l "$M/iot-ssh-proxy-hooks.5" \
	2> "$T/hooks.warn" | col -b > "$T/hooks.txt"
[ ! -s "$T/hooks.warn" ] || fail "hooks page: $(cat "$T/hooks.warn")"
for w in on_resolve on_open_tunnel on_tunnel_opened on_tunnel_closed \
    isp.log isp.glob isp.host_matches isp.allow_hosts isp.deny_hosts \
    isp.cap_lifetime isp.set_tag isp.get_tag isp.require_env \
    isp.tag_from_env isp.tag_with_user isp.array iot:TagResource; do
	grep -qF -- "$w" "$T/hooks.txt" || fail "hooks page lacks $w"
done
# Every helper the library exports is in the page.
for w in $(sed -n 's/^function M\.\([a-z_]*\).*/\1/p' \
    "$IST_SRC/lua/iot_ssh_proxy.lua"); do
	grep -qF -- "isp.$w" "$T/hooks.txt" || fail "hooks page lacks isp.$w"
done
echo "ok: man pages"
