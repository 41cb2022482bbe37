#!/bin/sh
# bench/detector_essays.sh BUILD_DIR LIANG_DIR [MODEL] — the detector on the essays of Liang et
# al. (2023), "GPT detectors are biased against non-native English writers": TOEFL essays by
# non-native writers, US students' essays and abstracts, and ChatGPT essays and abstracts on the
# same tasks. LIANG_DIR is a checkout of github.com/Weixin-Liang/ChatGPT-Detector-Bias (not
# fetched by this script). Scores every text with BUILD_DIR/cli/lode detect (the shipped model
# unless MODEL is given) and runs the ZipPy-style LZMA rule on the same texts when ZipPy's
# corpus is found (ZIPPY_PRELUDE, default ../shared/data/detector/zippy/zippy/ai-generated.txt
# beside the repository). See bench/detector_essays.py for what is printed.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 BUILD_DIR LIANG_DIR [MODEL]" >&2; exit 2; }
build="$1"
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/detector_lib.sh"
lode=$(detector_lode "$build")
out="$build/detector-essays"
prelude="${ZIPPY_PRELUDE:-$here/../../shared/data/detector/zippy/zippy/ai-generated.txt}"
rm -rf "$out"
python3 "$here/detector_essays.py" extract "$2" "$out"
detect_each "$out" "$lode" "${3:-}"
[ -f "$prelude" ] || prelude=""
python3 "$here/detector_essays.py" tally "$out" ${prelude:+"$prelude"}
