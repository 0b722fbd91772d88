#!/usr/bin/env node
// Reference token ids for BERT cross-encoder golden tests, produced with the
// real Hugging Face `tokenizers` library (npm package, Rust core).
//
// For the FIRST 20 distinct query ids in the order they appear in the SciFact
// BM25 run (../shared/data/scifact/bm25/test.bm25.top100.trec) and each
// query's first 20 candidates (ranks 1..20, file order), encode the pair
//     [CLS] query [SEP] doc [SEP]
// with doc = title + " " + text (just text if the title is empty; no SciFact
// title is empty, checked at run time and reported), truncation strategy
// only_second at the requested max length, and write
//     tests/golden/bert/inputs_len<MAXLEN>.json
// = {"tokenizer", "tokenizers_version", "max_len", "queries": [{"qid",
//    "doc_ids", "input_ids", "token_type_ids"}]}  (no texts are stored).
//
// Usage (from anywhere):
//   node tests/reference/gen_bert_inputs.mjs [--shared DIR] [--out-dir DIR]
//        [--n-queries 20] [--n-cands 20] [MAXLEN ...]     (default: 192 256 512)
// Requires `npm install` (or `npm install --no-save tokenizers@0.23.2`) in
// tests/reference first.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

let shared = process.env.GRATING_SHARED || path.resolve(repo, '..', 'shared');
let outDir = path.join(repo, 'tests', 'golden', 'bert');
let nQueries = 20;
let nCands = 20;
const maxLens = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--shared') shared = path.resolve(argv[++i]);
  else if (a === '--out-dir') outDir = path.resolve(argv[++i]);
  else if (a === '--n-queries') nQueries = parseInt(argv[++i], 10);
  else if (a === '--n-cands') nCands = parseInt(argv[++i], 10);
  else if (/^\d+$/.test(a)) maxLens.push(parseInt(a, 10));
  else {
    console.error(`gen_bert_inputs: unknown argument '${a}'`);
    process.exit(2);
  }
}
if (maxLens.length === 0) maxLens.push(192, 256, 512);

const TOKENIZER_REL = 'ms-marco-MiniLM-L-6-v2/tokenizer.json';
const tokPath = path.join(shared, 'models', TOKENIZER_REL);
const dataDir = path.join(shared, 'data', 'scifact');
const runPath = path.join(dataDir, 'bm25', 'test.bm25.top100.trec');
for (const p of [tokPath, runPath, path.join(dataDir, 'queries.jsonl'), path.join(dataDir, 'corpus.jsonl')]) {
  if (!fs.existsSync(p)) {
    console.error(`gen_bert_inputs: missing input file ${p}`);
    process.exit(1);
  }
}

const tokVersion = JSON.parse(
  fs.readFileSync(require.resolve('tokenizers/package.json'), 'utf8')).version;

// ---- candidate run: first nQueries distinct qids, first nCands rows each ----
const runs = new Map(); // qid -> [{rank, docid}]
for (const line of fs.readFileSync(runPath, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const f = line.trim().split(/\s+/);
  if (f.length !== 6) throw new Error(`${runPath}: expected 6 fields, got '${line}'`);
  const [qid, , docid, rank] = f;
  if (!runs.has(qid)) {
    if (runs.size === nQueries) continue; // only the first nQueries distinct qids
    runs.set(qid, []);
  }
  runs.get(qid).push({ rank: parseInt(rank, 10), docid });
}
const selected = [];
for (const [qid, rows] of runs) {
  const top = rows.slice(0, nCands);
  if (top.length < nCands) throw new Error(`query ${qid}: only ${top.length} candidates in run`);
  top.forEach((r, i) => {
    if (r.rank !== i + 1) throw new Error(`query ${qid}: row ${i} has rank ${r.rank}, expected ${i + 1}`);
  });
  selected.push({ qid, docIds: top.map((r) => r.docid) });
}

// ---- texts ----
const queries = new Map();
for (const line of fs.readFileSync(path.join(dataDir, 'queries.jsonl'), 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const q = JSON.parse(line);
  queries.set(String(q._id), q.text);
}
const needDocs = new Set(selected.flatMap((s) => s.docIds));
const docs = new Map();
let emptyTitlesAll = 0;
let emptyTitlesUsed = 0;
for (const line of fs.readFileSync(path.join(dataDir, 'corpus.jsonl'), 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const d = JSON.parse(line);
  const id = String(d._id);
  const title = d.title || '';
  if (title === '') emptyTitlesAll++;
  if (!needDocs.has(id)) continue;
  if (title === '') emptyTitlesUsed++;
  docs.set(id, title === '' ? d.text : `${title} ${d.text}`);
}
console.error(`gen_bert_inputs: corpus documents with an empty title: ${emptyTitlesAll} ` +
  `(${emptyTitlesUsed} among the selected candidates); empty title -> doc = text only`);

// ---- encode ----
const tokenizer = Tokenizer.fromFile(tokPath);
tokenizer.disablePadding();

fs.mkdirSync(outDir, { recursive: true });
for (const maxLen of maxLens) {
  tokenizer.setTruncation(maxLen, { strategy: 'OnlySecond', direction: 'right', stride: 0 });
  const outQueries = [];
  let nTok = 0;
  let nTrunc = 0;
  for (const { qid, docIds } of selected) {
    const qtext = queries.get(qid);
    if (qtext === undefined) throw new Error(`query ${qid} not in queries.jsonl`);
    const inputIds = [];
    const typeIds = [];
    for (const did of docIds) {
      const dtext = docs.get(did);
      if (dtext === undefined) throw new Error(`doc ${did} not in corpus.jsonl`);
      const enc = await tokenizer.encode(qtext, dtext, { addSpecialTokens: true });
      const ids = Array.from(enc.getIds());
      const tt = Array.from(enc.getTypeIds());
      if (ids.length > maxLen) throw new Error(`encoding longer than ${maxLen}`);
      if (ids.length === maxLen) nTrunc++;
      nTok += ids.length;
      inputIds.push(ids);
      typeIds.push(tt);
    }
    outQueries.push({ qid, doc_ids: docIds, input_ids: inputIds, token_type_ids: typeIds });
  }
  const out = {
    tokenizer: TOKENIZER_REL,
    tokenizers_version: tokVersion,
    max_len: maxLen,
    queries: outQueries,
  };
  const outPath = path.join(outDir, `inputs_len${maxLen}.json`);
  fs.writeFileSync(outPath, JSON.stringify(out) + '\n');
  const nPairs = selected.length * nCands;
  console.error(`gen_bert_inputs: wrote ${outPath} (${fs.statSync(outPath).size} bytes; ` +
    `${selected.length} queries x ${nCands} candidates, mean ${(nTok / nPairs).toFixed(1)} tokens, ` +
    `${nTrunc}/${nPairs} truncated at ${maxLen})`);
}
