#!/usr/bin/env python3
"""Replaces the token ids of a golden inputs file by a digest.

    compact_bert_inputs.py FULL.json OUT.json

FULL.json is what gen_bert_inputs.mjs writes (token ids from Hugging Face
tokenizers of SciFact text). Token ids spell out ../shared's text, which must
not be copied into the repo, so the committed file keeps per query the qid,
the doc ids, each pair's length and an FNV-1a 64 digest of the ids; the test
rebuilds the ids from ../shared with grating's WordPiece and checks them
against the digest (tests/test_bert_parity.c). The digest covers, per query
and in candidate order, every input id then every token type id as a
little-endian int32.
"""
import json
import struct
import sys


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main() -> None:
    src, dst = sys.argv[1], sys.argv[2]
    full = json.load(open(src))
    out = {k: v for k, v in full.items() if k != "queries"}
    out["ids"] = "rebuilt from ../shared at test time; ids_fnv1a64 = FNV-1a 64 of the ids then the type ids (int32 LE) of every pair"
    out["queries"] = []
    for q in full["queries"]:
        blob = b"".join(
            struct.pack("<%di" % len(ids), *ids) + struct.pack("<%di" % len(tt), *tt)
            for ids, tt in zip(q["input_ids"], q["token_type_ids"])
        )
        out["queries"].append(
            {
                "qid": q["qid"],
                "doc_ids": q["doc_ids"],
                "seq_len": [len(ids) for ids in q["input_ids"]],
                "ids_fnv1a64": "%016x" % fnv1a64(blob),
            }
        )
    with open(dst, "w") as f:
        f.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
