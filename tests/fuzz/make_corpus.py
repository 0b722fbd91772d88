#!/usr/bin/env python3
"""Regenerates the seed corpora of tests/fuzz/corpus/ (README.md).

Every seed is small (a few KB) and either written here or produced by grating
itself (`grating synth` for safetensors checkpoints, `grating trace` for a
trace) from the tiny configs and tokenizers generated here; nothing is copied
from ../shared. Usage, from the repository root after a Release build:

    python3 tests/fuzz/make_corpus.py [--grating build/grating]
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile

SEP = b"\n====\n"  # FUZZ_SEPARATOR of fuzz_util.h
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def join(*parts):
    return SEP.join(p.encode() if isinstance(p, str) else p for p in parts)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# A BERT config small enough that its whole checkpoint is about 3 KB.
TINY_BERT = {
    "architectures": ["BertForSequenceClassification"], "model_type": "bert",
    "vocab_size": 40, "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
    "intermediate_size": 8, "max_position_embeddings": 16, "type_vocab_size": 2,
    "layer_norm_eps": 1e-12, "hidden_act": "gelu", "id2label": {"0": "LABEL_0"},
    "label2id": {"LABEL_0": 0}, "pad_token_id": 0, "position_embedding_type": "absolute",
}
TINY_QWEN3 = {
    "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "vocab_size": 300,
    "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
    "head_dim": 2, "intermediate_size": 8, "max_position_embeddings": 32, "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0, "tie_word_embeddings": True, "hidden_act": "silu",
    "attention_bias": False, "use_sliding_window": False, "sliding_window": None, "rope_scaling": None,
}

WP_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WP_WORDS = ["hello", "world", "the", "un", "##aff", "##able", "a", "b", "c", ",", "!", ".", "'",
            "s", "##s", "token", "##ization", "cafe", "naive", "x", "y", "你", "好", "end", "##ing",
            "2", "0", "6", "w", "##orld", "he", "##llo", "it", "is", "what"]


def wordpiece_tokenizer():
    vocab = {t: i for i, t in enumerate(WP_SPECIAL + WP_WORDS)}
    added = [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for t in WP_SPECIAL]
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [cls], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [sep], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def byte_alphabet():
    """GPT-2's bytes_to_unicode."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BPE_MERGES = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), ("Ġ", "w"), ("o", "r"),
              ("Ġw", "or"), ("Ġwor", "ld"), ("l", "d"), ("i", "n"), ("Ġ", "t"), ("Ġt", "he"), ("Ġ", "Ġ")]
BPE_ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def bpe_vocab():
    alphabet = byte_alphabet()
    vocab = {}
    for b in range(256):
        vocab[alphabet[b]] = len(vocab)
    for a, b in BPE_MERGES:
        for t in (a + b,):
            if t not in vocab:
                vocab[t] = len(vocab)
    return vocab


def bpe_tokenizer():
    vocab = bpe_vocab()
    added = [{"id": len(vocab) + i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in enumerate(BPE_ADDED)]
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    regex = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
             "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}, bl]},
        "post_processor": bl, "decoder": bl,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": [[a, b] for a, b in BPE_MERGES]},
    }


def compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


CORPUS = ('{"_id": "d1", "title": "Hello", "text": "the world is round"}\n'
          '{"_id": "d2", "text": "tokenization of the world"}\n'
          '{"_id": "d3", "title": "", "text": "a b c"}\n'
          '{"_id": "d4", "title": "Cafe", "text": "naive hello world"}\n')
QUERIES = ('{"_id": "q1", "text": "hello world"}\n'
           '{"_id": "q2", "text": "what is the world"}\n')
QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td4\t2\nq2\td2\t1\nq2\td3\t0\n"
RUN = ("q1 Q0 d1 1 9.5 bm25\nq1 Q0 d4 2 7.25 bm25\nq1 Q0 d2 3 1.0 bm25\n"
       "q2 Q0 d2 1 3.5 bm25\nq2 Q0 d3 2 2.5 bm25\nq2 Q0 d1 3 -1.0 bm25\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grating", default=os.path.join(ROOT, "build", "grating"))
    args = ap.parse_args()
    g = os.path.abspath(args.grating)
    shutil.rmtree(OUT, ignore_errors=True)
    tmp = tempfile.mkdtemp(prefix="grating-corpus-")
    try:
        # config.json
        for name in ("bert-tiny", "qwen3-tiny", "qwen3-tiny-untied"):
            put("fuzz_model_config", name + ".json", read(os.path.join(ROOT, "tests/data", name, "config.json")))
        put("fuzz_model_config", "bert-4.json", json.dumps(TINY_BERT, indent=1))
        put("fuzz_model_config", "qwen3-4.json", json.dumps(TINY_QWEN3, indent=1))

        # safetensors and checkpoints, written by grating synth.
        for arch, cfg in (("bert", TINY_BERT), ("qwen3", TINY_QWEN3)):
            cfg_path = os.path.join(tmp, arch + ".json")
            with open(cfg_path, "w") as f:
                json.dump(cfg, f, indent=1)
            dtypes = ("f32", "bf16", "f16") if arch == "bert" else ("bf16",)
            for dt in dtypes:
                out = os.path.join(tmp, arch + "-" + dt)
                subprocess.run([g, "synth", "--config", cfg_path, "--out", out, "--dtype", dt],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                st = read(os.path.join(out, "model.safetensors"))
                put("fuzz_safetensors", arch + "-" + dt + ".safetensors", st)
                put("fuzz_checkpoint", arch + "-" + dt, join(json.dumps(cfg, indent=1), st))
            for limit in (600, 500, 400, 300, 1000, 1500, 2000):
                out = os.path.join(tmp, arch + "-sharded-%d" % limit)
                subprocess.run([g, "synth", "--config", cfg_path, "--out", out, "--dtype", "bf16",
                                "--max-shard-size", str(limit)], check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                shards = sorted(n for n in os.listdir(out) if n.startswith("model-"))
                if 2 <= len(shards) <= 4:
                    break
            assert 2 <= len(shards) <= 4, shards
            put("fuzz_checkpoint", arch + "-sharded",
                join(json.dumps(cfg, indent=1), read(os.path.join(out, "model.safetensors.index.json")),
                     *[read(os.path.join(out, s)) for s in shards]))
        put("fuzz_safetensors", "metadata-scalar.safetensors",
            _safetensors({"__metadata__": {"format": "pt"}, "s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]},
                          "ids": {"dtype": "I64", "shape": [2], "data_offsets": [4, 20]}}, b"\0\0\x80?" + bytes(16)))

        # tokenizers
        wp = wordpiece_tokenizer()
        put("fuzz_wordpiece", "tokenizer.json", json.dumps(wp, ensure_ascii=False, indent=1))
        put("fuzz_wordpiece", "tokenizer-text", join(compact(wp), "Hello, unaffable WORLD! [MASK] 你好 naïve"))
        vocab_txt = "\n".join(WP_SPECIAL + WP_WORDS) + "\n"
        put("fuzz_wordpiece", "vocab-txt", join(vocab_txt, "it's the tokenization end"))
        put("fuzz_wordpiece", "vocab-txt-config",
            join(vocab_txt, "Hello world", json.dumps({"do_lower_case": False, "strip_accents": True,
                                                       "unk_token": "[UNK]", "tokenize_chinese_chars": False})))
        bt = bpe_tokenizer()
        put("fuzz_bpe", "tokenizer.json", json.dumps(bt, ensure_ascii=False, indent=1))
        put("fuzz_bpe", "tokenizer-text", join(compact(bt), "<|im_start|>user\nhello world, the 2026's end\r\n <|im_end|>"))
        bt_str = dict(bt)
        bt_str["model"] = dict(bt["model"], merges=[a + " " + b for a, b in BPE_MERGES])
        put("fuzz_bpe", "tokenizer-string-merges.json", compact(bt_str))
        merges_txt = "#version: 0.2\n" + "".join(a + " " + b + "\n" for a, b in BPE_MERGES)
        tok_cfg = {"added_tokens_decoder": {str(t["id"]): {k: v for k, v in t.items() if k != "id"}
                                            for t in bt["added_tokens"]}}
        put("fuzz_bpe", "vocab-merges", join(compact(bpe_vocab()), "hello world", merges_txt, compact(tok_cfg)))

        # datasets
        put("fuzz_docs_jsonl", "docs.jsonl", CORPUS)
        put("fuzz_docs_jsonl", "plain.jsonl", '{"text": "no id"}\n\n{"id": "7", "text": "caf\\u00e9 \\ud83d\\ude00"}\r\n')
        put("fuzz_trec_run", "run.trec", RUN)
        put("fuzz_trec_run", "gaps-crlf.trec", "1 0 a 3 1e-3 t\r\n1 0 b 1 2 t\r\n\r\n2 Q0 a 10 -0.5 t\r\n")
        put("fuzz_beir_qrels", "test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td3\t2\nq3\td4\t1\n")
        put("fuzz_beir_qrels", "unknown.tsv", "query-id\tcorpus-id\tscore\r\nq1\td9\t1\r\nq4\td1\t1\r\nq2\td1\t-1\r\n")
        put("fuzz_beir", "folder", join(CORPUS, QUERIES, QRELS, RUN))
        put("fuzz_beir", "no-qrels", join("\ufeff" + CORPUS, QUERIES))

        # policies and grids
        policy_params = [
            "{}", '{"threshold": 0.05, "k": 3, "score": "logit"}', '{"threshold": 0.05, "mode": "drop-only"}',
            '{"threshold": 0.9, "patience": 2}',
            '{"schedule": [{"layer": 2, "keep": 0.75}, {"layer": 4, "keep": 0.5}]}',
            '{"gap": 0.1}', '{"score": "logit", "negative": -6.0, "positive": -1.0}',
        ]
        for i, p in enumerate(policy_params):
            put("fuzz_policy", "params-%d" % i, p)
            put("fuzz_policy", "params-%d-replay" % i, join(p, bytes([19, 4, 5, 40, 30, 20, 10, 0, 250, 240, 1, 9, 33])))
        put("fuzz_policy", "nan-replay", join('{"gap": 0.1}', bytes([7, 2, 3, 1, 2, 3, 0x80])))
        for name in ("cluster-gap-thresholds.json", "policy-comparison-scifact.json", "speed-1000.json"):
            put("fuzz_sweep_grid", name, read(os.path.join(ROOT, "experiments", name)))
        put("fuzz_sweep_grid", "small.json", json.dumps({"name": "small", "k": [1, 3], "chunk": [0, 2], "configs": [
            {"policy": "none"}, {"policy": "score-gap", "params": {"gap": 0.1}},
            {"policy": "fixed-schedule", "grid": {"schedule": [[{"layer": 1, "keep": 0.5}]]}}]}))

        # traces: recipes for fuzz_trace (all zero = valid), a real trace for fuzz_trace_h5.
        put("fuzz_trace", "valid", bytes(160))
        put("fuzz_trace", "valid-long", bytes(40) + bytes([4]) + bytes(200))
        put("fuzz_trace", "nan-scores", bytes(60) + b"\xff\xfe" * 40)
        model = os.path.join(tmp, "bert-f32")
        with open(os.path.join(model, "tokenizer.json"), "w") as f:
            json.dump(wp, f, ensure_ascii=False)
        ds = os.path.join(tmp, "ds")
        os.makedirs(os.path.join(ds, "qrels"))
        for name, text in (("corpus.jsonl", CORPUS), ("queries.jsonl", QUERIES), ("qrels/test.tsv", QRELS),
                           ("run.trec", RUN)):
            with open(os.path.join(ds, name), "w") as f:
                f.write(text)
        h5 = os.path.join(tmp, "t.h5")
        subprocess.run([g, "trace", "--model", model, "--dataset", ds, "--run", os.path.join(ds, "run.trec"),
                        "--out", h5, "--top-n", "3"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        put("fuzz_trace_h5", "trace.h5", read(h5))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = 0
    for d, _, files in os.walk(OUT):
        total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
    print("make_corpus: %s (%d bytes)" % (OUT, total))


def _safetensors(header, data):
    h = json.dumps(header).encode()
    return len(h).to_bytes(8, "little") + h + data


if __name__ == "__main__":
    main()
