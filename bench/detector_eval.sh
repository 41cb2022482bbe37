#!/bin/sh
# bench/detector_eval.sh DATA_DIR [BUILD_DIR [LIANG_DIR]] — leave-one-source-out evaluation of the
# detector against a ZipPy-style LZMA baseline on the reference data (DATA_DIR =
# ../shared/data/detector) and, with LIANG_DIR (a checkout of Weixin-Liang/ChatGPT-Detector-Bias),
# on the essays of Liang et al. as a ninth source. Converts the data to JSONL under
# BUILD_DIR/detector-data, then runs BUILD_DIR/bench/detector_eval.
set -eu
data="${1:?usage: detector_eval.sh DATA_DIR [BUILD_DIR [LIANG_DIR]]}"
build="${2:-build}"
here="$(cd "$(dirname "$0")" && pwd)"
python3 "$here/detector_prepare.py" "$data" "$build/detector-data" ${3:+"$3"}
exec "$build/bench/detector_eval" "$build/detector-data" "$data/zippy/zippy/ai-generated.txt" \
    "$here/../detector/reference/machine-text.txt"
