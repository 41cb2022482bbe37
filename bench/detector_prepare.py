#!/usr/bin/env python3
"""Convert the detector reference data (../shared/data/detector) into labelled JSONL.

usage: detector_prepare.py DATA_DIR OUT_DIR [LIANG_DIR]

Writes one file per source to OUT_DIR, each line {"text", "label", "source"}:
  zippy.jsonl          zippy human-generated/*.txt, llm-generated/*.txt, GPT-3-175b_samples.jsonl
                       (machine), gptzero_eval.csv (Human / AI documents)
  seqxgpt-<gen>.jsonl  SeqXGPT document-level: human, gpt2, gpt3, gptj, gptneo, llama
  mgtbench.jsonl       MGTBench: SQuAD1 contexts (human, each once) and the ChatGPT answers of
                       SQuAD1 and TruthfulQA (machine)
  binoculars.jsonl     Binoculars PubMed: article (human) and Falcon-7B generation (machine)
  liang.jsonl          only with LIANG_DIR, a checkout of Weixin-Liang/ChatGPT-Detector-Bias: the
                       human and machine sets of bench/detector_essays.py (TOEFL essays by
                       non-native writers, US students' essays, college essays and CS224N
                       abstracts; ChatGPT-3.5 essays and abstracts, plain and self-edited). The
                       GPT-4-polished TOEFL essays, human text edited by a model, are left out.
                       Each human line also has "kind": its set, a kind of writing that the
                       synthetic threshold holds to the target false-positive rate on its own.
                       Without LIANG_DIR an earlier liang.jsonl is removed.
Output is deterministic (files in sorted order, rows in file order).
"""
import csv
import json
import os
import sys

import detector_essays

csv.field_size_limit(1 << 30)


def write(out_dir, source, rows):
    with open(os.path.join(out_dir, source + ".jsonl"), "w", encoding="utf-8") as f:
        for text, label, *kind in rows:
            row = {"text": text, "label": label, "source": source}
            if kind:
                row["kind"] = kind[0]
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_text(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    data, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)

    liang = os.path.join(out, "liang.jsonl")
    if len(sys.argv) == 4:
        rows = []
        for name, role, _ in detector_essays.SETS:
            if role == "edited":
                continue
            with open(detector_essays.set_path(sys.argv[3], name, role), encoding="utf-8") as f:
                rows += [(d["document"], role, name) if role == "human" else
                         (d["document"], role) for d in json.load(f)]
        write(out, "liang", rows)
    elif os.path.exists(liang):
        os.remove(liang)

    rows = []
    z = os.path.join(data, "zippy", "samples")
    for sub, label in (("human-generated", "human"), ("llm-generated", "machine")):
        for name in sorted(os.listdir(os.path.join(z, sub))):
            if name.endswith(".txt"):
                rows.append((read_text(os.path.join(z, sub, name)), label))
    with open(os.path.join(z, "GPT-3-175b_samples.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rows.append((json.loads(line), "machine"))
    with open(os.path.join(z, "gptzero_eval.csv"), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            rows.append((r["Document"], "human" if r["Label"] == "Human" else "machine"))
    write(out, "zippy", rows)

    s = os.path.join(data, "seqxgpt", "document-level")
    for gen in ("human", "gpt2", "gpt3", "gptj", "gptneo", "llama"):
        rows = []
        with open(os.path.join(s, gen + "_lines.jsonl"), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rows.append((json.loads(line)["text"], "human" if gen == "human" else "machine"))
        write(out, "seqxgpt-" + gen, rows)

    rows, seen = [], set()
    m = os.path.join(data, "mgtbench")
    with open(os.path.join(m, "SQuAD1_chatgpt.csv"), encoding="utf-8") as f:
        squad = list(csv.DictReader(f))
    for r in squad:
        if r["context"] not in seen:
            seen.add(r["context"])
            rows.append((r["context"], "human"))
    for r in squad:
        rows.append((r["chatgpt_answer"], "machine"))
    with open(os.path.join(m, "TruthfulQA_chatgpt.csv"), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            rows.append((r["chatgpt_answer"], "machine"))
    write(out, "mgtbench", rows)

    rows = []
    key = "-fs-cml-models-Falcon-falcon-7b_generated_text_wo_prompt"
    with open(os.path.join(data, "binoculars", "pubmed-falcon7.jsonl"), encoding="utf-8") as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                rows.append((o["article"], "human"))
                rows.append((o[key], "machine"))
    write(out, "binoculars", rows)


if __name__ == "__main__":
    main()
