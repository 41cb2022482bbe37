#!/usr/bin/env python3
"""bench/dedupe_data.py - deterministic data for the dedupe evaluation and benchmarks.

Texts come from the detector corpora of the shared data folder (human and machine texts:
news, Wikipedia, PubMed, stories). Nothing here draws on Python's `random` (whose algorithms
may change between versions): a splitmix64 generator with fixed seeds drives every choice, so
the same data folder always gives byte-identical files.

  dedupe_data.py eval  DATA OUTDIR        labelled pair sets: OUTDIR/eval_{short,long}.jsonl
                                          and OUTDIR/eval_{short,long}.labels.tsv
  dedupe_data.py short DATA N OUT.jsonl   N short records (8-24 words), duplicates injected
  dedupe_data.py long  DATA N OUT.jsonl   N documents of about 2 KB, duplicates injected
  dedupe_data.py score LABELS.tsv OUTPUT.jsonl   precision, recall, F1 of a lode dedupe run

Ground truth of the pair sets (docs/dedupe.md): a pair is a near duplicate when its word edit
rate (edits / words of the original) is at most 10%. Formatting-only changes (case,
punctuation, white space, NFKC-foldable look-alikes, invisible characters) and sentence
reordering count as 0 edits; truncation counts the removed words; look-alike letters that NFKC
does not fold (Cyrillic homoglyphs) count one edit per changed word.
"""
import csv
import glob
import json
import os
import re
import sys

MASK = (1 << 64) - 1


class Rng:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return self.next() % n

    def unit(self):
        return (self.next() >> 11) / float(1 << 53)

    def choice(self, seq):
        return seq[self.below(len(seq))]

    def shuffle(self, seq):
        for i in range(len(seq) - 1, 0, -1):
            j = self.below(i + 1)
            seq[i], seq[j] = seq[j], seq[i]


# ---------------------------------------------------------------- sources

def load_documents(data):
    """All texts of the detector corpora, in a fixed order, with a topic tag (or None)."""
    det = os.path.join(data, "detector")
    docs = []
    for path in sorted(glob.glob(os.path.join(det, "seqxgpt/document-level/*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            for line in f:
                docs.append((json.loads(line)["text"], None))
    with open(os.path.join(det, "binoculars/pubmed-falcon7.jsonl"), encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            docs.append((rec["article"], None))
    with open(os.path.join(det, "zippy/samples/GPT-3-175b_samples.jsonl"), encoding="utf-8") as f:
        for line in f:
            docs.append((json.loads(line), None))
    for sub in ("human-generated", "llm-generated"):
        for path in sorted(glob.glob(os.path.join(det, "zippy/samples", sub, "*.txt"))):
            with open(path, encoding="utf-8", errors="replace") as f:
                docs.append((f.read(), None))
    seen = set()
    with open(os.path.join(det, "mgtbench/SQuAD1_chatgpt.csv"), encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["context"] not in seen:
                seen.add(row["context"])
                docs.append((row["context"], "squad:" + row["title"]))
    return [(" ".join(t.split()), topic) for t, topic in docs if len(t.split()) >= 20]


def load_answer_groups(data):
    """TruthfulQA: several distinct correct answers per question (same topic, different text)."""
    groups = []
    path = os.path.join(data, "detector/mgtbench/TruthfulQA_chatgpt.csv")
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            answers = [a.strip() for a in row["Correct Answers"].split(";")]
            answers = [a for a in answers if len(a.split()) >= 5]
            if len(answers) >= 2:
                groups.append(answers)
    return groups


SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def sentences_of(text):
    return [s for s in SENTENCE_END.split(text) if s]


def key(text):
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def truncate_words(text, max_bytes):
    out, size = [], 0
    for w in text.split():
        if size + len(w) + 1 > max_bytes and out:
            break
        out.append(w)
        size += len(w) + 1
    return " ".join(out)


# ---------------------------------------------------------------- edits

FULLWIDTH = {c: chr(ord(c) - 0x21 + 0xFF01) for c in map(chr, range(0x21, 0x7F))}
MATH_BOLD = {**{chr(0x41 + i): chr(0x1D400 + i) for i in range(26)},
             **{chr(0x61 + i): chr(0x1D41A + i) for i in range(26)}}
LIGATURES = {"fi": "\uFB01", "fl": "\uFB02", "ff": "\uFB00"}
HOMOGLYPHS = {"a": "\u0430", "e": "\u0435", "o": "\u043E", "p": "\u0440", "c": "\u0441",
              "x": "\u0445", "y": "\u0443", "i": "\u0456"}
INVISIBLE = ["\u200B", "\u00AD", "\u200D", "\u2060"]
FILLER = ("the of and to in a is that for it as was with be by on not he this are or his from "
          "at which but have an they you were her she there been one all we their its new more "
          "time also when would about who other two after first than into some only over most "
          "people state year data system world between part during under such many").split()


def word_edits(rng, words, rate):
    """Applies max(1, floor(rate * n)) random word edits; returns (words, edits)."""
    words = list(words)
    n = len(words)
    edits = max(1, int(rate * n + 1e-9))
    for _ in range(edits):
        op = rng.below(4)
        if op == 0 and len(words) > 1:
            del words[rng.below(len(words))]
        elif op == 1:
            words.insert(rng.below(len(words) + 1), rng.choice(FILLER))
        elif op == 2 and len(words) > 1:
            i = rng.below(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        else:
            words[rng.below(len(words))] = rng.choice(FILLER)
    return words, edits


def format_edit(rng, text):
    """Changes only what normalisation folds; 0 word edits."""
    kind = rng.below(6)
    if kind == 0:
        return text.upper() if rng.below(2) else text.lower(), "case"
    if kind == 1:
        return re.sub(r"[,.;:!?]", lambda m: rng.choice(["", " ,", "...", " - ", ";"]), text), "punct"
    if kind == 2:
        return "  " + "\n".join(text.split(" ")).replace("\n", rng.choice(["\t", "  ", "\n", " \u00A0"])) + " \r\n", "space"
    if kind == 3:
        table = FULLWIDTH if rng.below(2) else MATH_BOLD
        return "".join(table.get(c, c) if rng.below(3) == 0 else c for c in text), "lookalike"
    if kind == 4:
        out = text
        for a, b in LIGATURES.items():
            out = out.replace(a, b)
        return out, "ligature"
    return "".join(c + (rng.choice(INVISIBLE) if c.isalpha() and rng.below(8) == 0 else "")
                   for c in text), "invisible"


def homoglyph_edit(rng, words, rate):
    words = list(words)
    edits = max(1, int(rate * len(words) + 1e-9))
    changed = 0
    for i in sorted({rng.below(len(words)) for _ in range(edits)}):
        w = "".join(HOMOGLYPHS.get(c, c) for c in words[i])
        if w != words[i]:
            words[i] = w
            changed += 1
    return words, changed


# ---------------------------------------------------------------- pair sets

POSITIVE = [("format", 10), ("homoglyph", 5), ("edit0.02", 8), ("edit0.05", 9), ("edit0.10", 9),
            ("truncate0.10", 5), ("reorder", 5)]
NEGATIVE = [("edit0.20", 8), ("edit0.30", 7), ("edit0.50", 5), ("truncate0.50", 5),
            ("same_topic", 12), ("unrelated", 12)]


def pick_kind(rng, long_texts):
    table = [(k, w) for k, w in POSITIVE + NEGATIVE if long_texts or k != "reorder"]
    total = sum(w for _, w in table)
    r = rng.below(total)
    for k, w in table:
        if r < w:
            return k
        r -= w
    return table[-1][0]


def make_variant(rng, kind, text, long_texts):
    """Returns (variant, edit_rate, detail)."""
    words = text.split()
    n = len(words)
    if kind == "format":
        v, detail = format_edit(rng, text)
        return v, 0.0, detail
    if kind == "homoglyph":
        v, changed = homoglyph_edit(rng, words, 0.05)
        return " ".join(v), changed / n, "cyrillic"
    if kind.startswith("edit"):
        v, edits = word_edits(rng, words, float(kind[4:]))
        return " ".join(v), edits / n, ""
    if kind.startswith("truncate"):
        cut = max(1, int(float(kind[8:]) * n + 1e-9))
        return " ".join(words[: n - cut]), cut / n, ""
    if kind == "reorder":
        parts = sentences_of(text)
        if len(parts) < 2:
            return text.lower(), 0.0, "single sentence"
        rng.shuffle(parts)
        return " ".join(parts), 0.0, "%d sentences" % len(parts)
    raise ValueError(kind)


def build_pairs(rng, pool, topics, answer_groups, count, long_texts):
    """pool: list of distinct texts (consumed). Returns rows (a, b, label, kind, rate, detail)."""
    rows = []
    topic_keys = sorted(topics)
    while len(rows) < count and len(pool) >= 2:
        kind = pick_kind(rng, long_texts)
        if kind == "same_topic":
            if long_texts:
                t = rng.choice(topic_keys)
                if len(topics[t]) < 2:
                    continue
                a, b = topics[t].pop(), topics[t].pop()
                rows.append((a, b, 0, kind, 1.0, t))
            else:
                if not answer_groups:
                    continue
                g = answer_groups.pop(rng.below(len(answer_groups)))
                rows.append((g[0], g[1], 0, kind, 1.0, "truthfulqa"))
            continue
        a = pool.pop()
        if kind == "unrelated":
            rows.append((a, pool.pop(), 0, kind, 1.0, ""))
            continue
        b, rate, detail = make_variant(rng, kind, a, long_texts)
        rows.append((a, b, 1 if rate <= 0.10 else 0, kind, rate, detail))
    return rows


def write_pairs(rng, rows, out_jsonl, out_labels):
    records = []
    for g, (a, b, _, _, _, _) in enumerate(rows):
        records.append((g, a))
        records.append((g, b))
    rng.shuffle(records)
    where = {}
    with open(out_jsonl, "w", encoding="utf-8") as f:
        for i, (g, text) in enumerate(records):
            f.write(json.dumps({"text": text, "group": g}, ensure_ascii=False) + "\n")
            where.setdefault(g, []).append(i)
    with open(out_labels, "w", encoding="utf-8") as f:
        f.write("group\tindex_a\tindex_b\tlabel\tkind\tedit_rate\tdetail\n")
        for g, (_, _, label, kind, rate, detail) in enumerate(rows):
            i, j = where[g]
            f.write("%d\t%d\t%d\t%d\t%s\t%.4f\t%s\n" % (g, i, j, label, kind, rate, detail))


def cmd_eval(data, outdir):
    rng = Rng(0x65766131)
    docs = load_documents(data)
    os.makedirs(outdir, exist_ok=True)

    # short: sentences of 8-40 words, distinct after a simple normalisation
    seen, sentences = set(), []
    for text, _ in docs:
        for s in sentences_of(text):
            if 8 <= len(s.split()) <= 40 and key(s) not in seen:
                seen.add(key(s))
                sentences.append(s)
    rng.shuffle(sentences)
    groups = load_answer_groups(data)
    rows = build_pairs(rng, sentences, {}, groups, 4000, False)
    write_pairs(rng, rows, os.path.join(outdir, "eval_short.jsonl"),
                os.path.join(outdir, "eval_short.labels.tsv"))

    # long: documents cut to at most 3000 bytes at a word boundary, at least 800 bytes
    seen, pool, topics = set(), [], {}
    for text, topic in docs:
        t = truncate_words(text, 3000)
        if len(t) < 800 or key(t) in seen:
            continue
        seen.add(key(t))
        if topic is not None:
            topics.setdefault(topic, []).append(t)
        else:
            pool.append(t)
    rng.shuffle(pool)
    for t in sorted(topics):
        rng.shuffle(topics[t])
    rows_long = build_pairs(rng, pool, topics, [], 800, True)
    write_pairs(rng, rows_long, os.path.join(outdir, "eval_long.jsonl"),
                os.path.join(outdir, "eval_long.labels.tsv"))
    print("eval_short: %d pairs (%d duplicates); eval_long: %d pairs (%d duplicates)" % (
        len(rows), sum(r[2] for r in rows), len(rows_long), sum(r[2] for r in rows_long)))


# ---------------------------------------------------------------- benchmark corpora

def inject(rng, base, n, out, make):
    """Writes n records: 80% fresh (make()), 10% exact copies up to formatting, 10% near
    duplicates (5% word edits) of an earlier fresh record."""
    fresh = []
    with open(out, "w", encoding="utf-8") as f:
        for _ in range(n):
            r = rng.below(10)
            if r == 0 and fresh:
                text = rng.choice(fresh)
                text = text.upper() if rng.below(2) else text + "."
            elif r == 1 and fresh:
                words, _ = word_edits(rng, rng.choice(fresh).split(), 0.05)
                text = " ".join(words)
            else:
                text = make()
                if len(fresh) < 200000:
                    fresh.append(text)
                else:
                    fresh[rng.below(len(fresh))] = text
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")


def cmd_short(data, n, out):
    rng = Rng(0x73686f72)
    words = []
    for text, _ in load_documents(data):
        words.extend(text.split())

    def make():
        parts = []
        for _ in range(2):  # two windows from unrelated places: distinct records
            length = 4 + rng.below(9)
            start = rng.below(len(words) - length)
            parts.extend(words[start:start + length])
        return " ".join(parts)

    inject(rng, words, n, out, make)


def cmd_long(data, n, out):
    rng = Rng(0x6c6f6e67)
    sentences = []
    for text, _ in load_documents(data):
        sentences.extend(s for s in sentences_of(text) if len(s) >= 20)

    def make():
        parts, size = [], 0
        while size < 2000:
            s = rng.choice(sentences)
            parts.append(s)
            size += len(s) + 1
        return " ".join(parts)[:2200]

    inject(rng, sentences, n, out, make)


# ---------------------------------------------------------------- scoring

def cmd_score(labels, output):
    cluster, dup_of = {}, {}
    with open(output, encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            cluster[rec["index"]] = rec["cluster"]
            dup_of[rec["index"]] = rec["duplicate_of"]
    group_of, rows = {}, []
    with open(labels, encoding="utf-8") as f:
        next(f)
        for line in f:
            g, i, j, label, kind, rate, _ = line.rstrip("\n").split("\t")
            rows.append((int(i), int(j), int(label), kind))
            group_of[int(i)] = group_of[int(j)] = int(g)
    tp = fp = fn = tn = 0
    by_kind = {}
    for i, j, label, kind in rows:
        same = cluster[i] is not None and cluster[i] == cluster[j]
        k = by_kind.setdefault(kind, [0, 0])
        k[0] += same
        k[1] += 1
        if label and same:
            tp += 1
        elif label:
            fn += 1
        elif same:
            fp += 1
        else:
            tn += 1
    # records clustered with a record of another group are false positives too
    members = {}
    for i, c in cluster.items():
        members.setdefault(c, []).append(i)
    cross = 0
    for ids in members.values():
        for x in range(len(ids)):
            for y in range(x + 1, len(ids)):
                if group_of[ids[x]] != group_of[ids[y]]:
                    cross += 1
    fp_all = fp + cross
    precision = tp / (tp + fp_all) if tp + fp_all else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    print("pairs %d (duplicates %d): tp %d fp %d (in-pair %d, cross-pair %d) fn %d tn %d" % (
        len(rows), tp + fn, tp, fp_all, fp, cross, fn, tn))
    print("precision %.4f recall %.4f f1 %.4f" % (precision, recall, f1))
    print("clustered together, by kind: " + ", ".join(
        "%s %d/%d" % (k, v[0], v[1]) for k, v in sorted(by_kind.items())))


def main(argv):
    if len(argv) == 4 and argv[1] == "eval":
        cmd_eval(argv[2], argv[3])
    elif len(argv) == 5 and argv[1] in ("short", "long"):
        (cmd_short if argv[1] == "short" else cmd_long)(argv[2], int(argv[3]), argv[4])
    elif len(argv) == 4 and argv[1] == "score":
        cmd_score(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
