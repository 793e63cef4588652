#!/usr/bin/env bash
# The README's first command: set berth up, then move a busybox image through
# berth end to end — made offline, pushed to a berth registry on loopback,
# removed, pulled back through berthd — and run containers from it.
#   bash scripts/demo.sh
# berthd: uses the one on the default socket (/run/berth/berth.sock); the
# berth CLI starts it by itself when none answers there.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

bash scripts/setup.sh

BERTH=$(command -v berth || echo "$ROOT/dist/berth")
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

WORK=$(mktemp -d /tmp/berth-demo.XXXXXX)
REGISTRY_PID=""
cleanup() {
  if [ -n "$REGISTRY_PID" ] && kill -0 "$REGISTRY_PID" 2>/dev/null; then
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

say "berth version (starts berthd if none answers on the default socket)"
"$BERTH" version

say "making a busybox root filesystem offline from /bin/busybox"
rootfs="$WORK/rootfs"
mkdir -p "$rootfs"/{bin,etc,proc,sys,dev,tmp,root,home,var,usr/bin,usr/sbin,sbin}
chmod 1777 "$rootfs/tmp"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
tar --numeric-owner -C "$rootfs" -cf "$WORK/busybox.tar" .
echo "rootfs tarball: $(du -h "$WORK/busybox.tar" | cut -f1), $(find "$rootfs" | wc -l) files"

say "berth import busybox.tar demo/busybox:latest"
"$BERTH" import -c 'CMD ["/bin/sh"]' -m "busybox from Debian's busybox-static" "$WORK/busybox.tar" demo/busybox:latest

say "starting a berth registry on 127.0.0.1 (free port)"
"$BERTH" registry serve --addr 127.0.0.1:0 --root "$WORK/registry" > "$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
ADDR=""
for _ in $(seq 1 100); do
  ADDR=$(sed -n 's#.*listening on http://\([0-9.]*:[0-9]*\).*#\1#p' "$WORK/registry.log" | head -1)
  [ -n "$ADDR" ] && break
  kill -0 "$REGISTRY_PID" 2>/dev/null || { cat "$WORK/registry.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "registry did not start" >&2; cat "$WORK/registry.log" >&2; exit 1; }
echo "registry pid $REGISTRY_PID listening on $ADDR"
IMAGE="$ADDR/demo/busybox:latest"

say "berth tag demo/busybox $IMAGE && berth push $IMAGE"
"$BERTH" tag demo/busybox "$IMAGE"
"$BERTH" push "$IMAGE"

say "berth rmi (both names), so the pull below really downloads"
"$BERTH" rmi "$IMAGE" demo/busybox

say "berth pull $IMAGE (through berthd)"
"$BERTH" pull "$IMAGE"

say "berth images"
"$BERTH" images
"$BERTH" image inspect --format 'id {{.Id}}  cmd {{json .Config.Cmd}}  layers {{len .RootFS.Layers}}' "$IMAGE"

say "berth run --rm $IMAGE (a container: its own PID 1, hostname, filesystem)"
"$BERTH" run --rm "$IMAGE" sh -c 'echo "hello from $(hostname), I am PID $$, and I see $(ls /proc | grep -c "^[0-9]") processes"'

say "a container in the background: run -d, ps, logs, exec, stop, rm"
CID=$("$BERTH" run -d --name berth-demo-web "$IMAGE" sh -c 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done')
echo "started $CID"
sleep 1
"$BERTH" ps --filter name=berth-demo-web
"$BERTH" logs --tail 2 berth-demo-web
"$BERTH" exec berth-demo-web sh -c 'echo "exec sees: $(cat /etc/hostname)"'
"$BERTH" stop -t 1 berth-demo-web
"$BERTH" rm berth-demo-web

say "done: an offline busybox image went to a berth registry on $ADDR and back through berthd, and ran as containers"
echo "berthd keeps running (pid $(cat "${BERTH_ROOT:-/var/lib/berth}/run/berthd.pid" 2>/dev/null || echo '?')); stop it with: kill \$(cat ${BERTH_ROOT:-/var/lib/berth}/run/berthd.pid)"
