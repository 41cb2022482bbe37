#!/usr/bin/env python3
"""The detector on the essays of Liang et al. (2023), "GPT detectors are biased against
non-native English writers" (Patterns 4; arXiv 2304.02819): the texts that paper found seven
detectors to flag as machine-written more than half the time when a non-native writer wrote them.

usage: detector_essays.py extract LIANG_DIR OUT_DIR
       detector_essays.py tally OUT_DIR [ZIPPY_PRELUDE]

LIANG_DIR is a checkout of github.com/Weixin-Liang/ChatGPT-Detector-Bias (MIT licence); its
sets are read from data/{human,gpt}_data/<set>/data.json or, in older commits,
Data_and_Results/{Human,GPT}_Data/<set>/data.json (a JSON list of {"document": text}).
extract writes OUT_DIR/<set>.jsonl, one {"text", "set", "index"} per document. tally reads them
with OUT_DIR/<set>.out (the output of `lode detect`) and prints, per set, the verdicts and the
share flagged `synthetic`; then the AUROC of each human set against the machine sets written
for the same task; then how the detector ranks the non-native essays against the native
students' ones (0.5: no difference; above: non-native essays score as more machine-like).
With ZIPPY_PRELUDE (ZipPy's AI-text corpus) the ZipPy-style LZMA rule (preset 2, compression
ratio of the corpus minus that of corpus + text; > 0 = AI) is run on the same texts beside it.
Output is deterministic.
"""
import json
import lzma
import os
import sys

from detector_human_kinds import read_scored, verdict_counts

# name, role, what the texts are (wording of the paper and its repository)
SETS = [
    ("TOEFL_real_91", "human", "TOEFL essays by non-native writers"),
    ("HewlettStudentEssay_real_88", "human", "US 8th-grade student essays (Hewlett ASAP)"),
    ("CollegeEssay_real_70", "human", "US college admission essays"),
    ("CS224N_real_145", "human", "Stanford CS224N student project abstracts"),
    ("TOEFL_gpt4polished_91", "edited", "the TOEFL essays, word choice enhanced by GPT-4"),
    ("CollegeEssay_gpt3_31", "machine", "college essays by ChatGPT-3.5"),
    ("CollegeEssay_gpt3PromptEng_31", "machine", "... self-edited: 'employing literary language'"),
    ("CS224N_gpt3_145", "machine", "abstracts by ChatGPT-3.5"),
    ("CS224N_gpt3PromptEng_145", "machine", "... self-edited: 'advanced technical language'"),
]
PAIRS = [
    ("CollegeEssay_real_70", "CollegeEssay_gpt3_31"),
    ("CollegeEssay_real_70", "CollegeEssay_gpt3PromptEng_31"),
    ("CS224N_real_145", "CS224N_gpt3_145"),
    ("CS224N_real_145", "CS224N_gpt3PromptEng_145"),
]
NON_NATIVE = "TOEFL_real_91"
NATIVE_STUDENTS = ("HewlettStudentEssay_real_88", "CollegeEssay_real_70")


def set_path(root, name, role):
    new = os.path.join(root, "data", "gpt_data" if role == "machine" else "human_data", name,
                       "data.json")
    old = os.path.join(root, "Data_and_Results", "GPT_Data" if role == "machine" else
                       "Human_Data", name, "data.json")
    return new if os.path.exists(new) else old


def extract(root, out):
    os.makedirs(out, exist_ok=True)
    for name, role, _ in SETS:
        with open(set_path(root, name, role), encoding="utf-8") as f:
            docs = json.load(f)
        with open(os.path.join(out, name + ".jsonl"), "w", encoding="utf-8") as f:
            for i, d in enumerate(docs):
                f.write(json.dumps({"text": d["document"], "set": name, "index": i},
                                   ensure_ascii=False) + "\n")


def auroc(neg, pos):
    """P(score of a positive > score of a negative), ties counting half."""
    if not neg or not pos:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(neg) * len(pos))


class Zippy:
    def __init__(self, prelude_path):
        with open(prelude_path, "rb") as f:
            self.prelude = f.read()
        self.base = self.ratio(self.prelude)

    @staticmethod
    def ratio(data):
        return len(lzma.compress(data, preset=2)) / len(data)

    def delta(self, text):
        """> 0: the text compresses better with the AI corpus, ZipPy's 'AI' answer."""
        return self.base - self.ratio(self.prelude + text.encode("utf-8"))


def tally(out, prelude=None):
    zippy = Zippy(prelude) if prelude else None
    scores, deltas = {}, {}
    print("%-30s %-8s %5s %6s %6s %6s %6s %6s %8s%s" % (
        "set", "role", "texts", "insuf", "ood", "human", "uncert", "synth", "flagged",
        "   ZipPy AI" if zippy else ""))
    for name, role, what in SETS:
        texts, answers = read_scored(out, name, "text")
        n = verdict_counts(name, answers)
        scored = n[3] + n[4] + n[5]
        scores[name] = [a["score"] for a in answers if a["score"] is not None]
        line = "%-30s %-8s %5d %6d %6d %6d %6d %6d %7.1f%%" % (
            name, role, *n, 100.0 * n[5] / scored if scored else 0.0)
        if zippy:
            deltas[name] = [zippy.delta(t) for t in texts]
            line += " %9.1f%%" % (100.0 * sum(d > 0 for d in deltas[name]) / len(texts))
        print(line + "   " + what)
    print("flagged: `synthetic` over the texts given a probability; ZipPy AI: share of all "
          "texts with delta > 0")
    print()
    print("AUROC, human set against machine set (texts given a probability%s)" %
          ("; ZipPy on all texts" if zippy else ""))
    for human, machine in PAIRS:
        line = "  %-22s vs %-30s lode %.3f (%d/%d)" % (
            human, machine, auroc(scores[human], scores[machine]), len(scores[human]),
            len(scores[machine]))
        if zippy:
            line += "   ZipPy %.3f" % auroc(deltas[human], deltas[machine])
        print(line)
    native = [s for name in NATIVE_STUDENTS for s in scores[name]]
    line = "non-native vs native students: P(a %s essay scores above a %s one) lode %.3f" % (
        NON_NATIVE, " or ".join(NATIVE_STUDENTS), auroc(native, scores[NON_NATIVE]))
    if zippy:
        line += "   ZipPy %.3f" % auroc([d for name in NATIVE_STUDENTS for d in deltas[name]],
                                       deltas[NON_NATIVE])
    print(line)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "extract":
        extract(sys.argv[2], sys.argv[3])
    elif len(sys.argv) in (3, 4) and sys.argv[1] == "tally":
        tally(sys.argv[2], sys.argv[3] if len(sys.argv) == 4 else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
