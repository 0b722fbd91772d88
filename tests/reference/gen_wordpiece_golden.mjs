// Generates tests/golden/wordpiece/* with the real Hugging Face tokenizers
// (npm `tokenizers`, the Rust library behind transformers' fast tokenizers).
//
//   cd tests/reference && npm install && node gen_wordpiece_golden.mjs \
//       [TOKENIZER_JSON] [SCIFACT_DIR] [OUT_DIR]
//
// Defaults: <repo>/../shared/models/ms-marco-MiniLM-L-6-v2/tokenizer.json,
// <repo>/../shared/data/scifact and <repo>/tests/golden/wordpiece.
//
// SciFact texts are NOT copied: golden lines name the query / corpus id and
// carry an FNV-1a hash of the exact UTF-8 text, and tests/test_wordpiece.c
// re-reads the texts from the shared folder. See README.md in the output
// folder for the file layout.
import { Tokenizer } from 'tokenizers';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const shared = path.resolve(repo, '..', 'shared');
const tokenizerPath =
    process.argv[2] || path.join(shared, 'models', 'ms-marco-MiniLM-L-6-v2', 'tokenizer.json');
const scifact = process.argv[3] || path.join(shared, 'data', 'scifact');
const outDir = process.argv[4] || path.join(repo, 'tests', 'golden', 'wordpiece');
const MAX_FILE_BYTES = 900 * 1024;

const tok = Tokenizer.fromFile(tokenizerPath);
const version = createRequire(import.meta.url)('tokenizers/package.json').version;

// FNV-1a (32 bit) over UTF-8 bytes; pairs hash query, a 0xFF byte, then the document.
function fnv1a(buffers) {
    let h = 0x811c9dc5;
    buffers.forEach((buf, k) => {
        if (k > 0) h = Math.imul(h ^ 0xff, 0x01000193) >>> 0;
        for (const b of buf) h = Math.imul(h ^ b, 0x01000193) >>> 0;
    });
    return h.toString(16).padStart(8, '0');
}
const utf8 = (s) => Buffer.from(s, 'utf8');

function readJsonl(file) {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

async function encodeSingle(text) {
    tok.disableTruncation();
    const e = await tok.encode(text);
    return { ids: e.getIds(), types: e.getTypeIds() };
}

async function encodeSingleTruncated(text, maxLen) {
    tok.setTruncation(maxLen); // LongestFirst, right: the single text is cut
    try {
        const e = await tok.encode(text);
        return { ids: e.getIds(), types: e.getTypeIds() };
    } finally {
        tok.disableTruncation();
    }
}

async function encodePair(query, doc, maxLen) {
    tok.setTruncation(maxLen, { strategy: 'OnlySecond' });
    try {
        const e = await tok.encode(query, doc);
        return { ids: e.getIds(), types: e.getTypeIds() };
    } catch (err) {
        return { error: String(err) };
    } finally {
        tok.disableTruncation();
    }
}

// Writes lines into NAME_1.tsv, NAME_2.tsv, ... each under MAX_FILE_BYTES.
const manifest = [];
function writeSplit(name, header, lines) {
    let part = 1, buf = [], size = 0;
    const flush = () => {
        if (!buf.length) return;
        const file = `${name}_${part}.tsv`;
        fs.writeFileSync(path.join(outDir, file), header + buf.join(''));
        manifest.push(`${file}\t${buf.length}`);
        part++;
        buf = [];
        size = 0;
    };
    for (const line of lines) {
        if (size + line.length > MAX_FILE_BYTES) flush();
        buf.push(line);
        size += line.length;
    }
    flush();
}

const HEADER =
    '# kind\tid\tmax_len\tfnv1a32(utf8 text)\tinput_ids\ttoken_type_ids' +
    ` (HF tokenizers ${version}; max_len 0 = no truncation)\n`;
// HF's truncation error (the query leaves no room for the document) is
// recorded as input_ids "ERROR" and token_type_ids "-".
const line = (kind, id, maxLen, hash, r) =>
    r.error ? `${kind}\t${id}\t${maxLen}\t${hash}\tERROR\t-\n`
            : `${kind}\t${id}\t${maxLen}\t${hash}\t${r.ids.join(' ')}\t${r.types.join(' ')}\n`;

fs.mkdirSync(outDir, { recursive: true });

// 1. Every query, single text with specials, no truncation.
const queries = readJsonl(path.join(scifact, 'queries.jsonl'));
const queryText = new Map(queries.map((q) => [q._id, q.text]));
const qLines = [];
for (const q of queries) qLines.push(line('query', q._id, 0, fnv1a([utf8(q.text)]), await encodeSingle(q.text)));
writeSplit('queries', HEADER, qLines);

// 2. Documents (title + " " + text): every 8th corpus line, plus the first
// document holding each distinct non-ASCII character (accents, Greek, math,
// U+FFFD, soft hyphen, zero-width space, ligatures ...).
const corpus = readJsonl(path.join(scifact, 'corpus.jsonl'));
const docText = new Map(corpus.map((d) => [d._id, `${d.title} ${d.text}`]));
const chosen = new Set();
corpus.forEach((d, i) => { if (i % 8 === 0) chosen.add(i); });
const seenChars = new Set();
corpus.forEach((d, i) => {
    for (const ch of docText.get(d._id)) {
        if (ch.codePointAt(0) > 127 && !seenChars.has(ch)) {
            seenChars.add(ch);
            chosen.add(i);
        }
    }
});
const dLines = [];
for (const i of [...chosen].sort((a, b) => a - b)) {
    const d = corpus[i];
    const text = docText.get(d._id);
    dLines.push(line('doc', d._id, 0, fnv1a([utf8(text)]), await encodeSingle(text)));
}
writeSplit('docs', HEADER, dLines);

// 3. (query, document) pairs from the BM25 run of the test queries, truncated
// with OnlySecond: each query with one top-3 candidate at a max_len cycling
// over 64 / 192 / 512, and every other query with its rank-10 candidate at
// all three lengths.
const run = new Map();
for (const l of fs.readFileSync(path.join(scifact, 'bm25', 'test.bm25.top100.trec'), 'utf8').split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f.length < 4) continue;
    if (!run.has(f[0])) run.set(f[0], []);
    run.get(f[0]).push(f[2]);
}
const lens = [64, 192, 512];
const pLines = [];
let qi = 0, nPairErrors = 0;
for (const [qid, docs] of run) {
    const q = queryText.get(qid);
    const picks = [[docs[qi % 3], [lens[qi % 3]]]];
    if (qi % 2 === 0 && docs.length >= 10) picks.push([docs[9], lens]);
    for (const [did, maxLens] of picks) {
        const d = docText.get(did);
        for (const ml of maxLens) {
            const r = await encodePair(q, d, ml);
            if (r.error) nPairErrors++;
            pLines.push(line('pair', `${qid}:${did}`, ml, fnv1a([utf8(q), utf8(d)]), r));
        }
    }
    qi++;
}
writeSplit('pairs', HEADER, pLines);

// 4. Hand-written hard cases (texts stored here, as hex UTF-8 in hand.jsonl).
const long101 = 'a'.repeat(101), long100 = 'b'.repeat(100);
const singles = [
    ['empty', ''],
    ['spaces_only', '   \t\n  '],
    ['punct_only', '!?.,;:\'"()[]{}<>-_/\\|@#$%^&*~`+='],
    ['unicode_punct', '\u00bf\u00a1\u2026\u2014\u2013\u201c\u201d\u2018\u2019\u00ab\u00bb\u3001\u3002\u300c\u300d\u2022\u00b7'],
    ['accents', 'Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m Z\u00fcrich S\u00e3o Paulo \u0141\u00f3d\u017a Dvo\u0159\u00e1k'],
    ['combining', 'e\u0301 a\u0308 o\u0302\u0323 n\u0303 \u1e69 x\u0316\u0301\u0327'],
    ['cjk', '\u4e2d\u6587\u5206\u8bcd\u6d4b\u8bd5 \u6771\u4eac\u90fd \uf900\ufa10 \u{20000}\u{2a700}'],
    ['japanese_korean', '\u3072\u3089\u304c\u306a \u30ab\u30bf\u30ab\u30ca \ud55c\uad6d\uc5b4 \ud14c\uc2a4\ud2b8'],
    ['emoji', 'I \u2764\ufe0f it \ud83d\ude00\ud83e\udd70 \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67 \ud83c\uddeb\ud83c\uddf7 \ud83d\udc4d\ud83c\udffd'],
    ['controls', 'a\u0000b\u0001c\u0007d\u007fe\u0085f\u009fg\ufffdh\u00adi\u200bj\u200ek\u2028l\u2029m\ufeffn'],
    ['whitespace_kinds', 'a\u00a0b\u1680c\u2000d\u200ae\u202ff\u205fg\u3000h\u000bi\u000cj\r\nk\tl'],
    ['dotted_I', '\u0130stanbul \u0130I\u0131i \u0130\u0307'],
    ['greek', '\u0391\u03b8\u03ae\u03bd\u03b1 \u03a3\u03bf\u03c6\u03af\u03b1 \u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3 \u03b1-\u03b2 \u03bc\u039c \u00b5m \u03c2\u03a3'],
    ['math', '\u2200x\u2208\u211d: x\u00b2 \u2265 0, \u2211\u1d62 a\u1d62 \u2264 \u221e \u00b1 \u00d7 \u00f7 \u221a2 \u2248 1.414 \u2206 \u2202f/\u2202x \u2260 \u2261 \u2192 \u21d2 \u2124'],
    ['ligatures_fullwidth', '\ufb01nd \ufb03ce \uff21\uff22\uff23\uff11\uff12 \u2160\u216b \u2126 \u212b \u00bd \u2075'],
    ['cased_specials', '\u00df STRASSE \u1e9e \u0149 \u01c5 \u1f88 \u13a0\u13f4 \u1c90\u1cbf \u10a0 \u0180'],
    ['newer_unicode', '\u1c89\ua7cb\ua7dc \u{10d50}\u{16ea0} \u0890x \u0ecex \u{111c9}x \u166dx \u061dx \u1734x \u{11938}x \u2e43x \u07fdx'],
    ['long_word_101', long101],
    ['long_word_100', long100],
    ['long_word_accented', '\u00e9'.repeat(100) + ' ' + '\u00e9'.repeat(101)],
    ['long_word_mixed', 'x'.repeat(60) + '-' + 'y'.repeat(120) + ' antidisestablishmentarianism'],
    ['unknown_pieces', 'qzxqzxqzx \u{1d11e}music \u2603snow xx\u{1f600}yy'],
    ['numbers_urls', 'IL-6 p<0.05 1,234.56 10^-3 3\u00d710\u2079 https://example.org/a?b=c e-mail@x.com don\'t O\'Neil'],
    ['special_tokens_inline', 'see [SEP] and [CLS]x[MASK] [mask] [UNK] [PAD][SEP] [ SEP ] [SEP'],
    ['scripts', '\u0645\u0631\u062d\u0628\u0627 \u0928\u092e\u0938\u094d\u0924\u0947 \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35 \u05e9\u05dc\u05d5\u05dd \u041f\u0440\u0438\u0432\u0435\u0442 \u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0'],
];
const pairs = [
    ['pair_plain', 'what is tp53', 'TP53 is a tumour suppressor gene.', [512, 8]],
    ['pair_boundary_q2', 'q r', 'd e f', [3, 4, 5, 6, 7, 8]],
    ['pair_boundary_q1', 'q', 'd e f', [3, 4, 5, 6, 7]],
    ['pair_empty_doc', 'q r', '', [3, 4, 5, 6]],
    ['pair_empty_query', '', 'd e f', [3, 4, 5, 6]],
    ['pair_both_empty', '', '', [3, 4]],
    ['pair_query_too_long', 'one two three four five six seven eight', 'd', [8, 10, 11, 12, 13]],
    ['pair_doc_word_split', 'q', 'antidisestablishmentarianism is long', [5, 6, 7, 8]],
    ['pair_special_in_doc', 'a [SEP] b', 'c [CLS] d', [6, 7, 512]],
];
const hand = [];
for (const [name, text] of singles) {
    const r = await encodeSingle(text);
    hand.push({ name, text_hex: utf8(text).toString('hex'), max_len: 0, input_ids: r.ids, token_type_ids: r.types, text });
}
const truncatedSingles = [
    ['single_truncated', 'Tumour suppressor p53 (TP53) regulates apoptosis.', [2, 3, 4, 8, 512]],
    ['single_truncated_pieces', 'antidisestablishmentarianism', [3, 4, 5]],
];
for (const [name, text, maxLens] of truncatedSingles) {
    for (const ml of maxLens) {
        const r = await encodeSingleTruncated(text, ml);
        hand.push({ name: `${name}@${ml}`, text_hex: utf8(text).toString('hex'), max_len: ml,
            input_ids: r.ids, token_type_ids: r.types, text });
    }
}
for (const [name, q, d, maxLens] of pairs) {
    for (const ml of maxLens) {
        const r = await encodePair(q, d, ml);
        const out = { name: `${name}@${ml}`, text_hex: utf8(q).toString('hex'), doc_hex: utf8(d).toString('hex'), max_len: ml };
        if (r.error) out.error = r.error;
        else Object.assign(out, { input_ids: r.ids, token_type_ids: r.types });
        hand.push(Object.assign(out, { text: q, doc: d }));
    }
}
fs.writeFileSync(path.join(outDir, 'hand.jsonl'), hand.map((h) => JSON.stringify(h)).join('\n') + '\n');
manifest.push(`hand.jsonl\t${hand.length}`);

// 5. A tiny hand-made tokenizer.json exercising what the model above does
// not: added tokens with lstrip / rstrip / single_word / normalized, other
// normalizer flags (no accent stripping, no CJK spacing), another subword
// prefix, a short max_input_chars_per_word and BertProcessing.
const tinyVocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'un', '@@aff', '@@able', 'new',
    'york', 'i\u0307', 'caf\u00e9', 'cafe', '\u4e2d', '\u4e2d\u56fd', 'ent', '<', '>'];
for (const c of 'abcdefghijklmnopqrstuvwxyz') tinyVocab.push(c, `@@${c}`);
// Added tokens outside the vocabulary take the next ids: HF ignores the "id"
// of such entries on load and numbers them from the vocabulary size.
const tinyAdded = [
    { id: 0, content: '[PAD]', special: true, normalized: false },
    { id: 1, content: '[UNK]', special: true, normalized: false },
    { id: 2, content: '[CLS]', special: true, normalized: false },
    { id: 3, content: '[SEP]', special: true, normalized: false },
    { id: 4, content: '[MASK]', special: true, normalized: false, lstrip: true },
    { id: tinyVocab.length, content: '<ent>', special: false, normalized: false, single_word: true },
    { id: tinyVocab.length + 1, content: 'New York', special: false, normalized: true, rstrip: true },
].map((t) => Object.assign({ single_word: false, lstrip: false, rstrip: false }, t));
const tinyJson = {
    version: '1.0', truncation: null, padding: null, added_tokens: tinyAdded,
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: false,
        strip_accents: false, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: { type: 'BertProcessing', sep: ['[SEP]', 3], cls: ['[CLS]', 2] },
    decoder: null,
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '@@',
        max_input_chars_per_word: 12, vocab: Object.fromEntries(tinyVocab.map((t, i) => [t, i])) },
};
fs.mkdirSync(path.join(outDir, 'tiny'), { recursive: true });
fs.writeFileSync(path.join(outDir, 'tiny', 'tokenizer.json'), JSON.stringify(tinyJson, null, 1) + '\n');
const tiny = Tokenizer.fromFile(path.join(outDir, 'tiny', 'tokenizer.json'));
const tinyCases = [
    ['Hello <ent> x<ent> <ent>y <ent>, (<ent>)', null, 0],
    ['I live in NEW YORK now, new  york, NewYork, New York!', null, 0],
    ['foo   [MASK] bar[MASK]  [MASK]', null, 0],
    ['\u0130stanbul Caf\u00e9 CAFE\u0301 \u4e2d\u56fd \u4e2d', null, 0],
    ['unaffable abcdefghijkl abcdefghijklm unaffablex', null, 0],
    ['x [SEP] y', 'New York [MASK] ent <ent>', 12],
    ['x y', 'a b c d e f g', 7],
];
const tinyOut = [];
for (const [q, d, ml] of tinyCases) {
    if (ml) tiny.setTruncation(ml, { strategy: 'OnlySecond' });
    else tiny.disableTruncation();
    const e = d === null ? await tiny.encode(q) : await tiny.encode(q, d);
    const o = { text_hex: utf8(q).toString('hex'), max_len: ml, input_ids: e.getIds(),
        token_type_ids: e.getTypeIds(), tokens: e.getTokens(), text: q };
    if (d !== null) Object.assign(o, { doc_hex: utf8(d).toString('hex'), doc: d });
    tinyOut.push(o);
}
fs.writeFileSync(path.join(outDir, 'tiny.jsonl'), tinyOut.map((h) => JSON.stringify(h)).join('\n') + '\n');
manifest.push(`tiny.jsonl\t${tinyOut.length}`);

// 6. Every code point through the tokenizer's own normalizer, and how its
// pre-tokenizer classifies it (w = word, s = whitespace, p = punctuation).
// Runs of consecutive code points with the same class and the same output
// pattern share a line; an output item is "_" (U+0020) or the offset of the
// output code point from the input one ("=" for itself).
const norm = tok.getNormalizer(), pre = tok.getPreTokenizer();
const cpLines = [];
let run0 = null;
for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const s = String.fromCodePoint(cp);
    const parts = pre.preTokenizeString(`a${s}b`).length;
    const cls = parts === 1 ? 'w' : parts === 2 ? 's' : parts === 3 ? 'p' : '?';
    const pat = [...norm.normalizeString(s)]
        .map((c) => c.codePointAt(0))
        .map((o) => (o === 0x20 ? '_' : o === cp ? '=' : (o - cp > 0 ? '+' : '') + (o - cp)))
        .join(' ');
    if (run0 && run0.cls === cls && run0.pat === pat && run0.end + 1 === cp) {
        run0.end = cp;
    } else {
        if (run0) cpLines.push(`${run0.start.toString(16)}\t${run0.end.toString(16)}\t${run0.cls}\t${run0.pat}\n`);
        run0 = { start: cp, end: cp, cls, pat };
    }
}
cpLines.push(`${run0.start.toString(16)}\t${run0.end.toString(16)}\t${run0.cls}\t${run0.pat}\n`);
fs.writeFileSync(
    path.join(outDir, 'codepoints.tsv'),
    '# start\tend\tclass\tnormalized output, space-separated: "_" = U+0020, "=" = the code point itself, +n/-n = decimal offset from it; empty = dropped' +
        ` (HF tokenizers ${version})\n` + cpLines.join(''));
manifest.push(`codepoints.tsv\t${cpLines.length}`);

fs.writeFileSync(path.join(outDir, 'MANIFEST'), manifest.join('\n') + '\n');
console.log(`tokenizers ${version}: ${qLines.length} queries, ${dLines.length} documents, ` +
    `${pLines.length} pairs (${nPairErrors} truncation errors), ${hand.length} hand-written, ${cpLines.length} code point runs -> ${outDir}`);
