#!/usr/bin/env bash
# System packages the test suite needs: Xvfb, a tray host (trayer), xdotool to click the menu,
# desktop-file-validate, a session D-Bus, GTK with fonts and icons, and the headers that PyGObject (the
# tray extra, for pystray's gtk backend) builds against. Installs what is missing with apt-get when we are
# root; otherwise says what is missing (the tests that need it skip). Then puts the tray extra into .venv.
# Quick when everything is there already.
set -u
cd "$(dirname "$0")/.." || exit 0
need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
want_cmd() { have_cmd "$1" || need+=("$2"); }
want_pkg() {  # Debian packages without a command of their own
  have_cmd dpkg-query || return 0
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed" || need+=("$1")
}
want_cmd Xvfb xvfb
want_cmd trayer trayer
want_cmd xdotool xdotool
want_cmd desktop-file-validate desktop-file-utils
want_cmd dbus-run-session dbus
want_cmd gcc gcc
want_cmd pkg-config pkg-config
want_cmd strace strace  # the "no phone home" test traces the daemon's system calls
for pkg in gir1.2-gtk-3.0 libgirepository1.0-dev libcairo2-dev python3-dev fonts-dejavu-core adwaita-icon-theme; do
  want_pkg "$pkg"
done

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && have_cmd apt-get; then
    echo "installing system packages for the tests: ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
      || echo "apt-get install failed; the tests that need ${need[*]} will skip"
  else
    echo "missing system packages (tests that need them are skipped): ${need[*]}"
    echo "install with: sudo apt-get install ${need[*]}"
  fi
fi

# PyGObject for the tray menu: built from source, so only once the headers above are there.
venv_py=.venv/bin/python
if [ -x "$venv_py" ] && ! "$venv_py" -c "import gi" >/dev/null 2>&1; then
  if pkg-config --exists gobject-introspection-1.0 cairo 2>/dev/null; then
    echo "installing the tray extra (PyGObject) into .venv"
    .venv/bin/pip install --quiet -e ".[tray]" || echo "pip could not build PyGObject; the tray test will skip"
  else
    echo "PyGObject needs libgirepository1.0-dev and libcairo2-dev; the tray test will skip"
  fi
fi
exit 0
