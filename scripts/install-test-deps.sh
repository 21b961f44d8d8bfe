#!/usr/bin/env bash
# System packages the test suite needs: Xvfb, tray hosts (trayer: XEmbed; xfce4-panel with xfwm4:
# StatusNotifierItem), xdotool to click the menu, desktop-file-validate, a session D-Bus, fonts and icons,
# PipeWire and headless Chromium with the camera portal. Installs what is missing with apt-get when we are
# root; otherwise says what is missing (the tests that need it skip). Then `vcamd setup` puts in what the
# desktop path needs (its own table in vcamd/commands/setup.py: GI typelibs incl. AyatanaAppIndicator3,
# GStreamer's PipeWire plugin, PyGObject in .venv and the headers it builds against). Quick when everything
# is there already.
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
want_cmd dbus-send dbus-bin
want_cmd xfce4-panel xfce4-panel
want_cmd xfwm4 xfwm4
want_cmd xprop x11-utils
want_cmd strace strace  # the "no phone home" test traces the daemon's system calls
for pkg in fonts-dejavu-core adwaita-icon-theme; do
  want_pkg "$pkg"
done
# The PipeWire camera tests: a session of our own (pipewire, wireplumber), and headless Chromium reading the
# camera through xdg-desktop-portal (gtk backend, gdbus grants). GStreamer, its PipeWire plugin and pw-dump
# come with `vcamd setup` below.
want_cmd pipewire pipewire
want_cmd wireplumber wireplumber
want_cmd gdbus libglib2.0-bin
want_cmd chromium chromium
for pkg in xdg-desktop-portal xdg-desktop-portal-gtk; do
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

# The desktop path (tray, PipeWire camera): system packages by the distribution's package manager, then
# PyGObject into .venv.
if [ -x .venv/bin/vcamd ]; then
  .venv/bin/vcamd setup || echo "the tests that need the pieces named above will skip"
fi
exit 0
