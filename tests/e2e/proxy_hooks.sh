#!/bin/bash
# The proxy runs the Lua hooks: on_resolve maps an ssh alias to a thing,
# on_open_tunnel shapes the request (tag, description), a denial exits 3
# before any tunnel is opened, and a hooks file others can write is
# refused (exit 3).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ssh.sh"

start_tunnel_world
mkdir -p "$T/hooks"
chmod 755 "$T/hooks"
cat > "$T/hooks/hooks.lua" <<'LUA'
function on_resolve(t)
  if t.host == "blocked" then
    return false, "blocked is off limits"
  end
  if t.host == "shop" then
    t.thing = "kiosk-17"
  end
end

function on_open_tunnel(req, t)
  req.tags = req.tags or {}
  table.insert(req.tags, { key = "opened-by", value = t.user })
  req.description = "hooked: " .. req.description
end
LUA
chmod 644 "$T/hooks/hooks.lua"
sed "s|--no-hooks|--hooks $T/hooks/hooks.lua|" "$T/ssh_config" \
	> "$T/ssh_config.hooks"
cp "$T/ssh_config.hooks" "$T/ssh_config"

out=$(ssh_dev shop 'echo via-hook')
assert_eq "$out" via-hook "ssh output"
assert_eq "$(last_proxy_rc)" 0 "proxy exit status"
id=$(tunnels_for kiosk-17 | sed -n 1p)
[ -n "$id" ] || fail "no tunnel for the mapped thing"
wait_tunnel_status "$id" CLOSED
assert_eq "$(json_get "$T/describe.json" tunnel.description)" \
	"hooked: ssh root@shop via iot-ssh-proxy" "description"
assert_contains "$(json_get "$T/describe.json" tunnel.tags)" \
	'"value": "root"' "tags"

set +e
ssh_dev blocked true 2> /dev/null
set -e
assert_eq "$(last_proxy_rc)" 3 "proxy exit status (denied)"
assert_contains "$(last_proxy_err)" "blocked is off limits" "deny message"
assert_eq "$(tunnels_for blocked | wc -l)" 0 "tunnels for a denied host"

chmod 666 "$T/hooks/hooks.lua"
set +e
ssh_dev shop true 2> /dev/null
set -e
assert_eq "$(last_proxy_rc)" 3 "proxy exit status (unsafe hooks file)"
assert_eq "$(tunnels_for kiosk-17 | wc -l)" 1 "tunnels after the refusal"
echo "ok"
