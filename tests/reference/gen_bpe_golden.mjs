// Generates tests/golden/bpe/* with the real Hugging Face tokenizers (npm
// `tokenizers`, the Rust library behind transformers' fast tokenizers) and the
// Qwen3-Reranker tokenizer.json.
//
//   cd tests/reference && npm install && node gen_bpe_golden.mjs \
//       [TOKENIZER_JSON] [SCIFACT_DIR] [OUT_DIR]
//
// Defaults: <repo>/../shared/models/qwen3-reranker-tokenizer/tokenizer.json,
// <repo>/../shared/data/scifact and <repo>/tests/golden/bpe.
//
// SciFact texts are NOT copied: golden lines name the query / corpus id and
// carry an FNV-1a hash of the exact UTF-8 text, and tests/test_bpe.c re-reads
// the texts from the shared folder. See README.md in the output folder.
import { Tokenizer } from 'tokenizers';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const shared = path.resolve(repo, '..', 'shared');
const tokenizerPath =
    process.argv[2] || path.join(shared, 'models', 'qwen3-reranker-tokenizer', 'tokenizer.json');
const scifact = process.argv[3] || path.join(shared, 'data', 'scifact');
const outDir = process.argv[4] || path.join(repo, 'tests', 'golden', 'bpe');
const MAX_FILE_BYTES = 900 * 1024;

const tok = Tokenizer.fromFile(tokenizerPath);
const version = createRequire(import.meta.url)('tokenizers/package.json').version;

function check(cond, msg) {
    if (!cond) throw new Error(msg);
}

// FNV-1a (32 bit) over UTF-8 bytes; several texts are joined by a 0xFF byte.
function fnv1a(buffers) {
    let h = 0x811c9dc5;
    buffers.forEach((buf, k) => {
        if (k > 0) h = Math.imul(h ^ 0xff, 0x01000193) >>> 0;
        for (const b of buf) h = Math.imul(h ^ b, 0x01000193) >>> 0;
    });
    return h.toString(16).padStart(8, '0');
}
const utf8 = (s) => Buffer.from(s, 'utf8');
const hash = (...texts) => fnv1a(texts.map(utf8));

function readJsonl(file) {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

// The ids of a text. The post-processor (ByteLevel) adds nothing: encoding
// with and without special tokens must agree, which is checked every time.
let nEncoded = 0;
async function encode(text, t = tok) {
    const a = await t.encode(text);
    const b = await t.encode(text, null, { addSpecialTokens: false });
    const ids = a.getIds();
    check(JSON.stringify(ids) === JSON.stringify(b.getIds()),
        `addSpecialTokens changes the ids of ${JSON.stringify(text.slice(0, 40))}`);
    nEncoded++;
    return { ids, tokens: a.getTokens() };
}

// Right truncation of a single sequence, as transformers' truncation='longest_first'.
async function encodeTruncated(text, maxLen) {
    tok.setTruncation(maxLen);
    try {
        return (await tok.encode(text)).getIds();
    } finally {
        tok.disableTruncation();
    }
}

const decode = async (ids, t = tok) => t.decode(ids, false);

// The Qwen3-Reranker template (model card, "Transformers Usage").
const PREFIX = '<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n';
const SUFFIX = '<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n';
const DEFAULT_INSTRUCTION = 'Given a web search query, retrieve relevant passages that answer the query';
const formatInstruction = (instruction, query, doc) =>
    `<Instruct>: ${instruction ?? DEFAULT_INSTRUCTION}\n<Query>: ${query}\n<Document>: ${doc}`;
const prefixIds = (await encode(PREFIX)).ids;
const suffixIds = (await encode(SUFFIX)).ids;

// process_inputs: the body alone truncated to max_len - |prefix| - |suffix|,
// then prefix + body + suffix.
async function encodePrompt(instruction, query, doc, maxLen) {
    const budget = maxLen - prefixIds.length - suffixIds.length;
    check(budget >= 0, `max_len ${maxLen} below the template length`);
    const body = formatInstruction(instruction, query, doc);
    const cut = await encodeTruncated(body, budget);
    const full = (await encode(body)).ids;
    check(JSON.stringify(cut) === JSON.stringify(full.slice(0, budget)),
        'truncation is not a plain cut of the full encoding');
    return [...prefixIds, ...cut, ...suffixIds];
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
    '# kind\tid\tmax_len\tfnv1a32(utf8 text)\tfnv1a32(HF decode)\tinput_ids' +
    ` (HF tokenizers ${version}; max_len 0 = no truncation)\n`;
const line = (kind, id, maxLen, textHash, decHash, ids) =>
    `${kind}\t${id}\t${maxLen}\t${textHash}\t${decHash}\t${ids.join(' ')}\n`;

fs.mkdirSync(outDir, { recursive: true });

// 1. Every query.
const queries = readJsonl(path.join(scifact, 'queries.jsonl'));
const queryText = new Map(queries.map((q) => [q._id, q.text]));
const qLines = [];
for (const q of queries) {
    const { ids } = await encode(q.text);
    qLines.push(line('query', q._id, 0, hash(q.text), hash(await decode(ids)), ids));
}
writeSplit('queries', HEADER, qLines);

// 2. Documents (title + " " + text): every 8th corpus line, plus the first
// document holding each distinct non-ASCII character (accents, Greek, math,
// U+FFFD, soft hyphen, zero-width space, ligatures, NFC-sensitive forms ...).
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
let nNfcDocs = 0;
for (const i of [...chosen].sort((a, b) => a - b)) {
    const text = docText.get(corpus[i]._id);
    if (text.normalize('NFC') !== text) nNfcDocs++;
    const { ids } = await encode(text);
    dLines.push(line('doc', corpus[i]._id, 0, hash(text), hash(await decode(ids)), ids));
}
writeSplit('docs', HEADER, dLines);

// 3. Reranker prompts for (test query, BM25 candidate): each query with one
// top-3 candidate at a max_len cycling over 128 / 512 / 8192, and every third
// query with its rank-10 candidate at all three.
const run = new Map();
for (const l of fs.readFileSync(path.join(scifact, 'bm25', 'test.bm25.top100.trec'), 'utf8').split('\n')) {
    const f = l.trim().split(/\s+/);
    if (f.length < 4) continue;
    if (!run.has(f[0])) run.set(f[0], []);
    run.get(f[0]).push(f[2]);
}
const lens = [128, 512, 8192];
const pLines = [];
let qi = 0, nTruncated = 0;
for (const [qid, docs] of run) {
    const q = queryText.get(qid);
    const picks = [[docs[qi % 3], [lens[qi % 3]]]];
    if (qi % 3 === 0 && docs.length >= 10) picks.push([docs[9], lens]);
    for (const [did, maxLens] of picks) {
        const d = docText.get(did);
        for (const ml of maxLens) {
            const ids = await encodePrompt(null, q, d, ml);
            if (ids.length === ml) nTruncated++;
            pLines.push(line('prompt', `${qid}:${did}`, ml, hash(q, d), hash(await decode(ids)), ids));
        }
    }
    qi++;
}
writeSplit('prompts', HEADER, pLines);

// 4. Hand-written hard cases (texts stored here, as hex UTF-8 in hand.jsonl).
const singles = [
    ['empty', ''],
    ['space', ' '],
    ['spaces_before_word', 'a    b'],
    ['spaces_trailing', 'word   '],
    ['spaces_leading', '   word'],
    ['spaces_only', '     '],
    ['tabs', '\tx\t\ty \t z\t'],
    ['crlf', 'line1\r\nline2\r\n\r\nline3\r'],
    ['newlines_then_spaces', 'a\n  b\n\n   c \n d\n\n'],
    ['spaces_newline_spaces', 'a  \n  \t\n x'],
    ['whitespace_before_digit', 'a  1  2\t3'],
    ['whitespace_before_punct', 'a  !! \t?? .\n'],
    ['unicode_spaces', 'a\u00a0b\u2003c\u3000d\u202fe\u205ff\u1680g\u2028h\u2029i\u0085j\u000bk\u000cl'],
    ['unicode_space_runs', 'x\u00a0\u00a0y \u3000 z\u2003 \n\u2003w'],
    ['contractions', "don't I'm you're we've he'll she'd it's"],
    ['contractions_upper', "DON'T I'M YOU'RE WE'VE HE'LL SHE'D IT'S 'S 'LL 'Re 'vE"],
    ['contractions_edge', "'s's 'sx ''s ' s 'ſ x'ſb 'll'll 'x 'S\u017f"],
    ['apostrophes_other', '\u2019s l\u2019homme `quoted\' "double"'],
    ['numbers', '0 12 345 6789 3.14159 1,000,000 -42 +7 1e-10 2^31 0x1F'],
    ['numbers_unicode', '\u0661\u0662\u0663 \u00bd \u2153 \u2167 \u00b2 \u2460 \uff11\uff12'],
    ['digits_letters', 'abc123def 4u 2nd IL-6 p53 H2O'],
    ['cjk', '\u4e2d\u6587\u5206\u8bcd\u6d4b\u8bd5\uff0c\u6771\u4eac\u90fd\u3002\u4f60\u597d\u4e16\u754c'],
    ['cjk_long_run', '\u6211\u4eec\u7684\u7814\u7a76\u8868\u660e\u8fd9\u79cd\u86cb\u767d\u8d28\u5728\u7ec6\u80de\u51cb\u4ea1\u4e2d\u8d77\u7740\u5173\u952e\u4f5c\u7528\u5e76\u4e14\u53ef\u80fd\u6210\u4e3a\u65b0\u7684\u6cbb\u7597\u9776\u70b9'],
    ['japanese_korean', '\u3072\u3089\u304c\u306a \u30ab\u30bf\u30ab\u30ca \ud55c\uad6d\uc5b4 \ud14c\uc2a4\ud2b8'],
    ['emoji', 'I \u2764\ufe0f it \ud83d\ude00\ud83e\udd70 \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67 \ud83c\uddeb\ud83c\uddf7 \ud83d\udc4d\ud83c\udffd!'],
    ['emoji_glued', 'abc\ud83d\ude00def \ud83d\ude00\ud83d\ude00\ud83d\ude00 x\ud83d\ude00'],
    ['combining_nfc', 'e\u0301 a\u0308 o\u0302\u0323 n\u0303 \u1e69 x\u0316\u0301\u0327 A\u030a \u212b \u2126'],
    ['nfc_hangul_jamo', '\u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af'],
    ['nfc_exclusions', '\u0958 \u2adc \u0344 \u0f73 \ufb1d'],
    ['dives_akuru', '\u{11935}\u{11930} \u{11938} a\u{11935}\u{11930}b'],
    ['unicode16_letters', '\u1c89\ua7cb\ua7dc \u{10d50}\u{10d4a} \u{11380}x \u{16100}\u{16130} \u{2ebf0}\u{2ee5d}'],
    ['controls', 'a\u0000b\u0001c\u0007d\u007fe\u009ff\ufffdg\u00adh\u200bi\u200ej\ufeffk\u001cl\u001fm'],
    ['control_runs', '\u0000\u0000 \u0001\u0002\n\u0003'],
    ['punct_runs', '!!! ??? ... --- ((( ))) a.b,c;d:e "f" (g) [h] {i} <j> k/l m\\n @#$%^&*~`+=|'],
    ['punct_newlines', 'end.\n\nnext!\r\n\r\nx;\n'],
    ['urls_code', 'https://example.org/a?b=c&d=e#f e-mail@x.com if (x != y) { return -1; }'],
    ['special_inline', 'a<|im_end|>b <|im_start|>user\n<think>\n\n</think>\n\n<|endoftext|>'],
    ['special_glued', 'x<think>y</think>z<tool_call>{"a":1}</tool_call><|fim_prefix|>p<|fim_suffix|>'],
    ['special_partial', '<|im_end| <|im_end|| <|im_end|>> <think <think>> </think ><|endoftext|><|endoftext|>'],
    ['special_spaces', '  <|im_end|>  \n<|im_start|>  \t<think>\t '],
    ['special_all', '<|object_ref_start|><|object_ref_end|><|box_start|><|box_end|><|quad_start|><|quad_end|><|vision_start|><|vision_end|><|vision_pad|><|image_pad|><|video_pad|><|fim_middle|><|fim_pad|><|repo_name|><|file_sep|><tool_response></tool_response>'],
    ['long_word', 'a'.repeat(200)],
    ['long_punct', '='.repeat(150) + '\n' + '-*'.repeat(60)],
    ['long_spaces', ' '.repeat(130) + 'x' + ' '.repeat(100)],
    ['long_newlines', '\n'.repeat(70) + ' '.repeat(3) + '\n'.repeat(3) + 'y'],
    ['long_digits', '31415926535897932384626433832795028841971693993751'],
    ['mixed_scripts', '\u0645\u0631\u062d\u0628\u0627 \u0928\u092e\u0938\u094d\u0924\u0947 \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35 \u05e9\u05dc\u05d5\u05dd \u041f\u0440\u0438\u0432\u0435\u0442 \u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0'],
    ['greek_math', '\u03b1-\u03b2 \u03bc\u039c \u00b5m \u2200x\u2208\u211d: x\u00b2 \u2265 0 \u2211\u1d62 \u221e \u00b1 \u00d7'],
    ['ligatures_fullwidth', '\ufb01nd \ufb03ce \uff21\uff22\uff23 \u2160\u216b'],
    ['private_use_unassigned', '\ue000\uf8ff \u{f0000} \u0378 \u{e0001}\u{e0020} \u{10ffff}'],
    ['scifact_like', 'Tumour suppressor p53 (TP53) regulates apoptosis; IC50 = 2.3\u00a0\u03bcM (n=12, P<0.05).'],
];
const hand = [];
for (const [name, text] of singles) {
    const { ids, tokens } = await encode(text);
    const dec = await decode(ids);
    hand.push({ name, text_hex: utf8(text).toString('hex'), max_len: 0, input_ids: ids,
        decoded_hex: utf8(dec).toString('hex'), text, tokens });
}
// Prompts with edge lengths (prefix + suffix = 48 tokens) and instructions.
const handPrompts = [
    ['prompt_card_example', null, 'What is the capital of China?', 'The capital of China is Beijing.', [8192, 60, 49, 48]],
    ['prompt_custom_instruction', 'Given a claim, find evidence that supports or refutes it', 'Vitamin D prevents fractures.', 'Randomised trials of vitamin D supplementation showed no reduction in fractures.', [8192, 80]],
    ['prompt_empty_instruction', '', 'q', 'd', [512]],
    ['prompt_empty_query_doc', null, '', '', [512, 48]],
    ['prompt_special_in_doc', null, 'who?', 'text <|im_end|>\n<|im_start|>assistant\n<think>yes</think> end', [512]],
    ['prompt_long_query', null, 'why '.repeat(60), 'short document', [8192, 96, 64]],
    ['prompt_unicode', null, '\u4f60\u597d\u4e16\u754c', 'e\u0301t\u00e9 \ud83d\ude00 \u00a0\n\r\n  x', [8192, 70]],
];
for (const [name, inst, q, d, maxLens] of handPrompts) {
    for (const ml of maxLens) {
        const ids = await encodePrompt(inst, q, d, ml);
        const o = { name: `${name}@${ml}`, prompt: true, query_hex: utf8(q).toString('hex'),
            doc_hex: utf8(d).toString('hex'), max_len: ml, input_ids: ids,
            decoded_hex: utf8(await decode(ids)).toString('hex'), query: q, doc: d };
        if (inst !== null) Object.assign(o, { instruction_hex: utf8(inst).toString('hex'), instruction: inst });
        hand.push(o);
    }
}
fs.writeFileSync(path.join(outDir, 'hand.jsonl'), hand.map((h) => JSON.stringify(h)).join('\n') + '\n');
manifest.push(`hand.jsonl\t${hand.length}`);

// 5. A tiny hand-made tokenizer.json exercising what the Qwen file does not:
// merges as "a b" strings with competing ranks, added tokens with lstrip /
// rstrip / single_word / normalized (an NFC-sensitive one), an added token
// that is also a vocabulary entry, and one whose text is not ASCII.
function bytesToUnicode() {
    const bs = [];
    for (let b = 33; b <= 126; b++) bs.push(b);
    for (let b = 161; b <= 172; b++) bs.push(b);
    for (let b = 174; b <= 255; b++) bs.push(b);
    const cs = bs.slice();
    let n = 0;
    for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); n++; }
    const m = {};
    bs.forEach((b, i) => { m[b] = String.fromCodePoint(cs[i]); });
    return m;
}
const b2u = bytesToUnicode();
const tinyVocab = [];
for (let b = 0; b < 256; b++) tinyVocab.push(b2u[b]);
const tinyMerges = [
    ['b', 'c'], ['a', 'b'], ['a', 'bc'], ['Ġ', 't'], ['h', 'e'], ['Ġt', 'he'], ['Ġ', 'Ġ'],
    ['ĠĠ', 'ĠĠ'], ['e', 'n'], ['t', 'o'], ['k', 'en'], ['to', 'ken'], ['Ġ', 'token'],
    ['Ã', '©'], ['c', 'a'], ['ca', 'f'], ['caf', 'Ã©'], ['Ċ', 'Ċ'], ['a', 'a'], ['aa', 'aa'],
];
for (const [a, b] of tinyMerges) if (!tinyVocab.includes(a + b)) tinyVocab.push(a + b);
const tinyAdded = [
    { content: '<s>', special: true, normalized: false },
    { content: '[L]', special: false, normalized: false, lstrip: true },
    { content: '[R]', special: false, normalized: false, rstrip: true },
    { content: '[LR]', special: true, normalized: false, lstrip: true, rstrip: true },
    { content: 'word', special: false, normalized: false, single_word: true },
    { content: 'caf\u00e9!', special: false, normalized: true },
    { content: 'token', special: false, normalized: false }, // already a vocabulary entry
    { content: '\u00fcber', special: false, normalized: false },
];
let nextId = tinyVocab.length;
const tinyAddedFull = tinyAdded.map((t) => {
    const inVocab = tinyVocab.indexOf(t.content); // HF looks the raw text up in the vocabulary
    return Object.assign({ id: inVocab >= 0 ? inVocab : nextId++, content: t.content,
        single_word: false, lstrip: false, rstrip: false, normalized: false, special: false }, t);
});
const real = JSON.parse(fs.readFileSync(tokenizerPath, 'utf8'));
const tinyJson = {
    version: '1.0', truncation: null, padding: null, added_tokens: tinyAddedFull,
    normalizer: { type: 'NFC' }, pre_tokenizer: real.pre_tokenizer,
    post_processor: real.post_processor, decoder: real.decoder,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '',
        end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false,
        vocab: Object.fromEntries(tinyVocab.map((t, i) => [t, i])),
        merges: tinyMerges.map(([a, b]) => `${a} ${b}`) },
};
fs.mkdirSync(path.join(outDir, 'tiny'), { recursive: true });
fs.writeFileSync(path.join(outDir, 'tiny', 'tokenizer.json'), JSON.stringify(tinyJson, null, 1) + '\n');
const tiny = Tokenizer.fromFile(path.join(outDir, 'tiny', 'tokenizer.json'));
for (const t of tinyAddedFull) check(tiny.tokenToId(t.content) === t.id, `tiny: id of ${t.content}`);
const tinyCases = [
    'abc abcabc bc ab aab', 'the token tokens  token\n\nthe', 'aaaaaaa aaaa',
    'x [L] y  [L]z [R]  w [R]\n\nv  [LR]  u[LR]', 'word words aword word. (word) _word word1 \u00e9word',
    'caf\u00e9! cafe\u0301! CAF\u00c9! caf\u00e9', '\u00fcber u\u0308ber <s><s> <s>x', 'caf\u00e9 caf\u00e9\u00e9',
    '\u00ff\u0000\u0080\ud83d\ude00', '',
];
const tinyOut = [];
for (const text of tinyCases) {
    const { ids, tokens } = await encode(text, tiny);
    tinyOut.push({ text_hex: utf8(text).toString('hex'), input_ids: ids, tokens,
        decoded_hex: utf8(await decode(ids, tiny)).toString('hex'), text });
}
fs.writeFileSync(path.join(outDir, 'tiny.jsonl'), tinyOut.map((h) => JSON.stringify(h)).join('\n') + '\n');
manifest.push(`tiny.jsonl\t${tinyOut.length}`);

// 6. Every code point through the pre-tokenizer and the normalizer.
//   C  start end sig: the pieces (lengths in code points) of "a" c "a",
//      "1" c c "1" and "x'" c "b", e.g. "3|1,2,1|1,3" for a letter; runs of
//      consecutive code points with the same signature share a line.
//   N  in out: NFC (HF's normalizer) of one code point when it changes, and
//      of the canonical decomposition (NFD, from Node's ICU) of every code
//      point that has one (Hangul syllables: every 50th).
const pre = tok.getPreTokenizer(), norm = tok.getNormalizer();
const sig = (s) => pre.preTokenizeString(s).map(([, [a, b]]) => b - a).join(',');
const hex = (s) => [...s].map((c) => c.codePointAt(0).toString(16)).join(' ');
const cLines = [], nLines = [];
let cur = null;
for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const s = String.fromCodePoint(cp);
    const g = `${sig(`a${s}a`)}|${sig(`1${s}${s}1`)}|${sig(`x'${s}b`)}`;
    if (cur && cur.sig === g && cur.end + 1 === cp) {
        cur.end = cp;
    } else {
        if (cur) cLines.push(`C\t${cur.start.toString(16)}\t${cur.end.toString(16)}\t${cur.sig}\n`);
        cur = { start: cp, end: cp, sig: g };
    }
    const n = norm.normalizeString(s);
    if (n !== s) nLines.push(`N\t${hex(s)}\t${hex(n)}\n`);
    const d = s.normalize('NFD');
    const hangul = cp >= 0xac00 && cp <= 0xd7a3;
    if (d !== s && (!hangul || (cp - 0xac00) % 50 === 0 || cp === 0xd7a3))
        nLines.push(`N\t${hex(d)}\t${hex(norm.normalizeString(d))}\n`);
}
cLines.push(`C\t${cur.start.toString(16)}\t${cur.end.toString(16)}\t${cur.sig}\n`);
fs.writeFileSync(
    path.join(outDir, 'codepoints.tsv'),
    `# C start end pieces("a"c"a")|pieces("1"cc"1")|pieces("x'"c"b") (code point counts) / N input output (NFC); hex code points (HF tokenizers ${version})\n` +
        cLines.join('') + nLines.join(''));
manifest.push(`codepoints.tsv\t${cLines.length + nLines.length}`);

fs.writeFileSync(path.join(outDir, 'MANIFEST'), manifest.join('\n') + '\n');
console.log(`tokenizers ${version}: ${qLines.length} queries, ${dLines.length} documents ` +
    `(${nNfcDocs} changed by NFC), ${pLines.length} prompts (${nTruncated} truncated), ` +
    `${hand.length} hand-written, ${tinyOut.length} tiny, ${cLines.length} code point runs, ` +
    `${nLines.length} NFC lines; ${nEncoded} texts checked with and without special tokens ` +
    `-> ${outDir}`);
