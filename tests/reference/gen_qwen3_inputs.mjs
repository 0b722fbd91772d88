#!/usr/bin/env node
// Reference prompt token ids for the Qwen3-Reranker golden tests, produced
// with the real Hugging Face `tokenizers` library (npm package, Rust core) on
// ../shared/models/qwen3-reranker-tokenizer/tokenizer.json.
//
// The prompt is the official one (Qwen3-Reranker-0.6B model card,
// "Transformers Usage"; PROVENANCE.md "Qwen3-Reranker prompt format" 1):
//   prefix = "<|im_start|>system\nJudge whether the Document meets the requirements based on
//             the Query and the Instruct provided. Note that the answer can only be \"yes\" or
//             \"no\".<|im_end|>\n<|im_start|>user\n"
//   body   = "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}"
//   suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
// prefix, body and suffix are encoded separately and concatenated, as the
// model card does (the body with truncation 'longest_first' at
// max_length - len(prefix) - len(suffix)); max_length is the model card's
// 8192, and the script asserts that no body here is truncated (the longest
// SciFact prompt of this selection has about 1,100 tokens, so 1024 would cut
// one). The default
// instruction is used: "Given a web search query, retrieve relevant passages
// that answer the query".
//
// For the FIRST 20 distinct query ids in the order of the SciFact BM25 run
// (../shared/data/scifact/bm25/test.bm25.top100.trec) and each query's first
// 10 candidates (ranks 1..10), doc = title + " " + text, write
//   tests/golden/qwen3/inputs.json
// = {"tokenizer", "tokenizers_version", "max_length", "instruction",
//    "prefix_ids", "suffix_ids", "yes_id", "no_id",
//    "queries": [{"qid", "doc_ids", "input_ids"}]}   (ids only, no texts).
// It also checks the prefix/suffix ids and the "yes"/"no" ids against the
// values verified in PROVENANCE.md.
//
// Usage: node tests/reference/gen_qwen3_inputs.mjs [--shared DIR] [--out FILE]
//        [--n-queries 20] [--n-cands 10] [--max-length 8192]
// Requires `npm install` in tests/reference first.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Tokenizer } = require('tokenizers');

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

let shared = process.env.GRATING_SHARED || path.resolve(repo, '..', 'shared');
let outPath = path.join(repo, 'tests', 'golden', 'qwen3', 'inputs.json');
let nQueries = 20;
let nCands = 10;
let maxLength = 8192; // the model card's max_length
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--shared') shared = path.resolve(argv[++i]);
  else if (a === '--out') outPath = path.resolve(argv[++i]);
  else if (a === '--n-queries') nQueries = parseInt(argv[++i], 10);
  else if (a === '--n-cands') nCands = parseInt(argv[++i], 10);
  else if (a === '--max-length') maxLength = parseInt(argv[++i], 10);
  else {
    console.error(`gen_qwen3_inputs: unknown argument '${a}'`);
    process.exit(2);
  }
}

const TOKENIZER_REL = 'qwen3-reranker-tokenizer/tokenizer.json';
const tokPath = path.join(shared, 'models', TOKENIZER_REL);
const dataDir = path.join(shared, 'data', 'scifact');
const runPath = path.join(dataDir, 'bm25', 'test.bm25.top100.trec');
for (const p of [tokPath, runPath, path.join(dataDir, 'queries.jsonl'), path.join(dataDir, 'corpus.jsonl')]) {
  if (!fs.existsSync(p)) {
    console.error(`gen_qwen3_inputs: missing input file ${p}`);
    process.exit(1);
  }
}
const tokVersion = JSON.parse(
  fs.readFileSync(require.resolve('tokenizers/package.json'), 'utf8')).version;

function check(cond, msg) {
  if (!cond) {
    console.error(`gen_qwen3_inputs: ${msg}`);
    process.exit(1);
  }
}

function sameIds(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// ---- the official prompt pieces ----
const INSTRUCTION = 'Given a web search query, retrieve relevant passages that answer the query';
const PREFIX = '<|im_start|>system\nJudge whether the Document meets the requirements based on the ' +
  'Query and the Instruct provided. Note that the answer can only be "yes" or "no".' +
  '<|im_end|>\n<|im_start|>user\n';
const SUFFIX = '<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n';
const formatInstruction = (instruction, query, doc) =>
  `<Instruct>: ${instruction}\n<Query>: ${query}\n<Document>: ${doc}`;

// Verified in ../shared/models/qwen3-reranker-tokenizer/PROVENANCE.md ("Token ids").
const EXPECTED_PREFIX = [151644, 8948, 198, 60256, 3425, 279, 11789, 20027, 279, 8502, 3118, 389,
  279, 11361, 323, 279, 758, 1235, 3897, 13, 7036, 429, 279, 4226, 646, 1172, 387, 330, 9693, 1,
  476, 330, 2152, 3263, 151645, 198, 151644, 872, 198];
const EXPECTED_SUFFIX = [151645, 198, 151644, 77091, 198, 151667, 271, 151668, 271];
const EXPECTED_YES = 9693;
const EXPECTED_NO = 2152;

const tokenizer = Tokenizer.fromFile(tokPath);
tokenizer.disablePadding();
tokenizer.disableTruncation();

async function encode(text, addSpecial) {
  const enc = await tokenizer.encode(text, null, { addSpecialTokens: addSpecial });
  return Array.from(enc.getIds());
}

const prefixIds = await encode(PREFIX, false);
const suffixIds = await encode(SUFFIX, false);
check(sameIds(prefixIds, EXPECTED_PREFIX), `prefix ids differ from PROVENANCE.md: ${prefixIds}`);
check(sameIds(suffixIds, EXPECTED_SUFFIX), `suffix ids differ from PROVENANCE.md: ${suffixIds}`);
// convert_tokens_to_ids("yes") / ("no"), and the same as encoding the word alone.
const yesId = tokenizer.tokenToId('yes');
const noId = tokenizer.tokenToId('no');
check(yesId === EXPECTED_YES && noId === EXPECTED_NO, `yes/no ids ${yesId}/${noId}, expected 9693/2152`);
check(sameIds(await encode('yes', true), [yesId]) && sameIds(await encode('no', true), [noId]),
  '"yes"/"no" do not encode to single tokens');
const bodyLimit = maxLength - prefixIds.length - suffixIds.length;

// ---- candidate run: first nQueries distinct qids, first nCands rows each ----
const runs = new Map(); // qid -> [{rank, docid}]
for (const line of fs.readFileSync(runPath, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const f = line.trim().split(/\s+/);
  check(f.length === 6, `${runPath}: expected 6 fields, got '${line}'`);
  const [qid, , docid, rank] = f;
  if (!runs.has(qid)) {
    if (runs.size === nQueries) continue;
    runs.set(qid, []);
  }
  runs.get(qid).push({ rank: parseInt(rank, 10), docid });
}
const selected = [];
for (const [qid, rows] of runs) {
  const top = rows.slice(0, nCands);
  check(top.length === nCands, `query ${qid}: only ${top.length} candidates in the run`);
  top.forEach((r, i) => check(r.rank === i + 1, `query ${qid}: row ${i} has rank ${r.rank}`));
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
for (const line of fs.readFileSync(path.join(dataDir, 'corpus.jsonl'), 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const d = JSON.parse(line);
  const id = String(d._id);
  if (!needDocs.has(id)) continue;
  check((d.title || '') !== '', `doc ${id} has an empty title`);
  docs.set(id, `${d.title} ${d.text}`);
}

// ---- encode ----
const outQueries = [];
let nTok = 0;
let longest = 0;
let shortest = Infinity;
let specialCheck = false;
for (const { qid, docIds } of selected) {
  const qtext = queries.get(qid);
  check(qtext !== undefined, `query ${qid} not in queries.jsonl`);
  const inputIds = [];
  for (const did of docIds) {
    const dtext = docs.get(did);
    check(dtext !== undefined, `doc ${did} not in corpus.jsonl`);
    const body = formatInstruction(INSTRUCTION, qtext, dtext);
    // The model card encodes the body with the tokenizer's defaults
    // (add_special_tokens=True); the Qwen post-processor adds nothing.
    const bodyIds = await encode(body, true);
    if (!specialCheck) {
      check(sameIds(bodyIds, await encode(body, false)), 'the post-processor added tokens');
      specialCheck = true;
    }
    check(bodyIds.length <= bodyLimit,
      `query ${qid} doc ${did}: body of ${bodyIds.length} tokens would be truncated at ` +
      `${bodyLimit} (max_length ${maxLength}); raise --max-length`);
    const ids = prefixIds.concat(bodyIds, suffixIds);
    nTok += ids.length;
    longest = Math.max(longest, ids.length);
    shortest = Math.min(shortest, ids.length);
    inputIds.push(ids);
  }
  outQueries.push({ qid, doc_ids: docIds, input_ids: inputIds });
}

const out = {
  tokenizer: TOKENIZER_REL,
  tokenizers_version: tokVersion,
  max_length: maxLength,
  instruction: INSTRUCTION,
  prefix_ids: prefixIds,
  suffix_ids: suffixIds,
  yes_id: yesId,
  no_id: noId,
  queries: outQueries,
};
fs.mkdirSync(path.dirname(outPath), { recursive: true });
// One query per line keeps diffs of regenerated files readable.
const lines = outQueries.map((q) => JSON.stringify(q));
const head = JSON.stringify({ ...out, queries: [] }).replace(/"queries":\[\]\}$/, '"queries":[\n');
fs.writeFileSync(outPath, head + lines.join(',\n') + '\n]}\n');
const nPairs = selected.length * nCands;
console.error(`gen_qwen3_inputs: wrote ${outPath} (${fs.statSync(outPath).size} bytes; ` +
  `${selected.length} queries x ${nCands} candidates, prompt lengths ${shortest}..${longest}, ` +
  `mean ${(nTok / nPairs).toFixed(1)} tokens, none truncated at max_length ${maxLength})`);
