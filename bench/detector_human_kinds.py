#!/usr/bin/env python3
"""False positives of the detector on kinds of human writing outside its training data.

usage: detector_human_kinds.py extract NPM_DIR OUT_DIR
       detector_human_kinds.py tally OUT_DIR

extract reads three public-domain corpora installed from the npm registry under NPM_DIR
(bench/detector_human_kinds.sh installs them) and writes one JSONL file per kind of writing to
OUT_DIR, each line {"text", "kind", "origin"}. Every text was written by people before language
models could write prose:
  email-*.jsonl   SpamAssassin public mail corpus, 2002 (the ham groups only): the body of each
                  message as its sender wrote it; quoted lines, attribution lines, signatures,
                  mailing-list footers and PGP armour are cut, HTML-only messages are skipped and
                  identical bodies are kept once
  sotu-*.jsonl    U.S. State of the Union addresses 1790-2021, by era, cut at sentence ends into
                  pieces of about 300 words (a contribution-sized text)
  novel.jsonl     Moby-Dick (1851), every chapter cut the same way
tally reads OUT_DIR/<kind>.jsonl with OUT_DIR/<kind>.out (the output of `lode detect` on it) and
prints the verdicts per kind; the texts flagged `synthetic` are listed with their origin.
Output is deterministic (files in sorted order, rows in file order).
"""
import email
import email.policy
import json
import os
import re
import sys

PIECE_WORDS = 300
SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")


def write(out_dir, kind, rows):
    with open(os.path.join(out_dir, kind + ".jsonl"), "w", encoding="utf-8") as f:
        for text, origin in rows:
            f.write(json.dumps({"text": text, "kind": kind, "origin": origin},
                               ensure_ascii=False) + "\n")


def pieces(text):
    """Consecutive sentences joined until a piece reaches PIECE_WORDS words; a short tail joins
    the piece before it."""
    out, cur, words, start = [], [], 0, 0
    text = " ".join(text.split())
    ends = [m.end() for m in SENTENCE_END.finditer(text)] + [len(text)]
    for end in ends:
        sentence = text[start:end].strip()
        start = end
        if not sentence:
            continue
        cur.append(sentence)
        words += len(sentence.split())
        if words >= PIECE_WORDS:
            out.append(" ".join(cur))
            cur, words = [], 0
    if cur:
        if out and words < PIECE_WORDS // 2:
            out[-1] += " " + " ".join(cur)
        else:
            out.append(" ".join(cur))
    return out


QUOTE = re.compile(r"^\s*(>|\|)")
ATTRIBUTION = re.compile(r"(wrote|writes|said):\s*$|^-+\s*Original Message\s*-+", re.I)
FOOTER = re.compile(r"^(_{10,}|-{10,}|={10,})\s*$")


def mail_body(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = msg.get_body(preferencelist=("plain",))
    if part is None:
        return None
    try:
        body = part.get_content()
    except (LookupError, ValueError):
        return None
    kept = []
    for line in body.splitlines():
        if line.rstrip() in ("--", "-- ") or FOOTER.match(line) or \
                line.startswith("-----BEGIN PGP SIGNATURE"):
            break  # signature, list footer or armour: the sender's own text is over
        if line.startswith("-----BEGIN PGP SIGNED") or line.startswith("Hash:"):
            continue
        if QUOTE.match(line) or ATTRIBUTION.search(line):
            continue
        kept.append(line)
    text = "\n".join(kept).strip()
    return text or None


def extract(npm, out):
    os.makedirs(out, exist_ok=True)
    base = os.path.join(npm, "node_modules", "@stdlib")

    mail_dir = os.path.join(base, "datasets-spam-assassin", "data")
    rows, seen = {"email-easy-ham": [], "email-hard-ham": []}, set()
    for group, kind in (("easy-ham-1", "email-easy-ham"), ("easy-ham-2", "email-easy-ham"),
                        ("hard-ham-1", "email-hard-ham")):
        folder = os.path.join(mail_dir, group)
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".txt"):
                continue
            with open(os.path.join(folder, name), "rb") as f:
                body = mail_body(f.read())
            if body is None or body in seen:
                continue
            seen.add(body)
            rows[kind].append((body, group + "/" + name))
    for kind, r in rows.items():
        write(out, kind, r)

    sotu_dir = os.path.join(base, "datasets-sotu", "data")
    eras = {"sotu-1790-1899": [], "sotu-1900-1999": [], "sotu-2000-2021": []}
    for name in sorted(os.listdir(sotu_dir)):
        if not name.endswith(".json") or not name[:4].isdigit():
            continue
        with open(os.path.join(sotu_dir, name), encoding="utf-8") as f:
            address = json.load(f)
        year = int(address["year"])
        era = "sotu-1790-1899" if year < 1900 else "sotu-1900-1999" if year < 2000 \
            else "sotu-2000-2021"
        for i, piece in enumerate(pieces(address["text"])):
            eras[era].append((piece, "%s#%d" % (name[:-5], i)))
    for kind, r in eras.items():
        write(out, kind, r)

    novel_dir = os.path.join(base, "datasets-moby-dick", "data")
    rows = []
    names = [n for n in os.listdir(novel_dir) if re.fullmatch(r"chapter_\d+\.txt", n)]
    for name in sorted(names, key=lambda n: int(n[8:-4])):
        with open(os.path.join(novel_dir, name), encoding="utf-8") as f:
            text = f.read().split("\n", 1)[-1]  # drop the "CHAPTER n. Title." line
        for i, piece in enumerate(pieces(text)):
            rows.append((piece, "%s#%d" % (name[:-4], i)))
    write(out, "novel", rows)


def read_scored(out, name, field):
    """`field` of every line of OUT/<name>.jsonl, and the `lode detect` answers in
    OUT/<name>.out, one per line."""
    with open(os.path.join(out, name + ".jsonl"), encoding="utf-8") as f:
        values = [json.loads(line)[field] for line in f]
    with open(os.path.join(out, name + ".out"), encoding="utf-8") as f:
        answers = [json.loads(line) for line in f]
    if len(answers) != len(values):
        sys.exit("%s: %d texts but %d answers" % (name, len(values), len(answers)))
    return values, answers


def verdict_counts(kind, answers):
    """[texts, insufficient, out of distribution, human, uncertain, synthetic] of `lode detect`
    answers."""
    n = [len(answers), 0, 0, 0, 0, 0]
    for a in answers:
        v = a["verdict"]
        if v == "insufficient":
            n[1] += 1
        elif v == "uncertain" and a["score"] is None:
            n[2] += 1
        elif v in ("human", "uncertain", "synthetic"):
            n[("human", "uncertain", "synthetic").index(v) + 3] += 1
        else:
            sys.exit("%s: unknown verdict %r" % (kind, v))
    return n


def tally(out):
    kinds = sorted(n[:-6] for n in os.listdir(out) if n.endswith(".jsonl"))
    print("%-16s %7s %12s %12s %7s %9s %9s %8s" % ("kind", "texts", "insufficient",
          "out-of-dist", "human", "uncertain", "synthetic", "FPR"))
    total, flagged = [0, 0, 0, 0, 0, 0], []
    for kind in kinds:
        origins, answers = read_scored(out, kind, "origin")
        n = verdict_counts(kind, answers)
        flagged += [(kind, origin, a["score"]) for origin, a in zip(origins, answers)
                    if a["verdict"] == "synthetic"]
        scored = n[3] + n[4] + n[5]
        print("%-16s %7d %12d %12d %7d %9d %9d %7.1f%%" % (
            kind, *n, 100.0 * n[5] / scored if scored else 0.0))
        total = [t + x for t, x in zip(total, n)]
    scored = total[3] + total[4] + total[5]
    print("%-16s %7d %12d %12d %7d %9d %9d %7.1f%%" % (
        "all", *total, 100.0 * total[5] / scored if scored else 0.0))
    print("FPR: texts given `synthetic` over texts given a probability (human, uncertain, "
          "synthetic)")
    for kind, origin, score in flagged:
        print("flagged: %s %s score %.3f" % (kind, origin, score))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "extract":
        extract(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "tally":
        tally(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
