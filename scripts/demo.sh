#!/usr/bin/env bash
# The main job: set up .venv if needed, generate a small test collection with
# three runs, evaluate them like trec_eval, and compare them with paired tests.
RAGBENCH_EXTRAS="${RAGBENCH_EXTRAS:-dev}" source "$(dirname "$0")/_env.sh"
out="${1:-demo-data}"
ragbench datasets synth "$out"
echo
echo "== ragbench evaluate (trec_eval's official measures, as trec_eval prints them)"
ragbench evaluate "$out/qrels/test.tsv" "$out/runs/run1.run" --format trec_eval
echo
echo "== ragbench evaluate (ragbench measures, one table)"
ragbench evaluate "$out/qrels/test.tsv" "$out"/runs/*.run -m nDCG@10 -m "P(rel=2)@5" -m AP -m RR@10 -m R@100
echo
echo "== ragbench compare (paired randomization test, Holm-corrected, all pairs)"
ragbench compare "$out/qrels/test.tsv" "$out"/runs/*.run -m nDCG@10 -m AP --test randomization
