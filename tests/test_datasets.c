// Tests of the dataset layer: the BEIR folder reader (corpus offset index,
// queries, qrels), TREC run files (reading, top-N, id resolution, writing),
// every documented error on small crafted files, and the real SciFact data
// under ../shared (skipped when absent). SHOW_MESSAGES=1 in the environment
// prints every error message the tests check, to review their wording.
#include "testutil.h"

#include "beir.h"
#include "docs_jsonl.h"
#include "base/json_file.h"
#include "trec.h"
#include "base/clock.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --------------------------------------------------------------- helpers */

static const char *path_in(const char *dir, const char *name) {
    static char slots[8][4096];
    static int next;
    char *s = slots[next++ % 8];
    snprintf(s, sizeof slots[0], "%s/%s", dir, name);
    return s;
}

static void write_text(const char *dir, const char *name, const char *text) {
    testutil_write_file(path_in(dir, name), text, strlen(text));
}

static void assert_message_has(const char *needle) {
    const char *m = status_message();
    if (!strstr(m, needle)) fail_msg("message \"%s\" does not contain \"%s\"", m, needle);
}

// Asserts the failure code and that the message names the file, the line
// (when line > 0) and what was expected.
static void assert_failed(status st, status code, const char *path, size_t line,
                          const char *expected) {
    if (st != code)
        fail_msg("expected %s, got %s: %s", status_name(code), status_name(st), status_message());
    if (getenv("SHOW_MESSAGES")) fprintf(stderr, "  %s\n", status_message());
    assert_message_has(path);
    if (line > 0) {
        char where[4200];
        snprintf(where, sizeof where, "%s: line %zu", path, line);
        assert_message_has(where);
    }
    assert_message_has(expected);
}

// A small valid BEIR folder covering the awkward cases: a blank line, CRLF,
// an empty title, no title, unicode (raw UTF-8 and a \u escape), extra
// fields, and a last line without newline.
static const char *SMALL_CORPUS =
    "{\"_id\": \"d1\", \"title\": \"Alpha\", \"text\": \"first doc.\"}\n"
    "\n"
    "{\"_id\": \"d2\", \"title\": \"\", \"text\": \"no title here\"}\r\n"
    "{\"_id\": \"d3\", \"text\": \"\xc3\x9cnic\xc3\xb6"
    "de \xe2\x98\x83 \xe6\x96\x87\xe5\xad\x97 "
    "\\u00e9\", \"metadata\": {\"x\": [1, 2]}}\n"
    "{\"_id\": \"d4\", \"title\": \"Last\", \"text\": \"no trailing newline\"}";
static const char *SMALL_QUERIES = "{\"_id\": \"q1\", \"text\": \"what is alpha?\"}\n"
                                   "{\"_id\": \"q2\", \"text\": \"second\", \"metadata\": {}}\n"
                                   "{\"_id\": \"q3\", \"text\": \"unjudged\"}\n";
static const char *SMALL_QRELS = "query-id\tcorpus-id\tscore\n"
                                 "q1\td1\t2\n"
                                 "q1\td3\t0\n"
                                 "q2\td4\t1\r\n"
                                 "\n";

static char *small_dataset(void) {
    char *dir = testutil_tmpdir();
    write_text(dir, "corpus.jsonl", SMALL_CORPUS);
    write_text(dir, "queries.jsonl", SMALL_QUERIES);
    assert_int_equal(mkdir(path_in(dir, "qrels"), 0777), 0);
    write_text(dir, "qrels/test.tsv", SMALL_QRELS);
    return dir;
}

/* ------------------------------------------------------------------ BEIR */

static void test_beir_small_dataset(void **state) {
    (void)state;
    char *dir = small_dataset();
    beir_dataset ds;
    assert_int_equal(beir_open(&ds, dir, "test", 0), STATUS_OK);
    assert_int_equal(ds.n_docs, 4);
    assert_int_equal(ds.n_queries, 3);
    assert_string_equal(ds.split, "test");

    const char *want_ids[] = {"d1", "d2", "d3", "d4"};
    const char *want_texts[] = {"Alpha first doc.", "no title here",
                                "\xc3\x9cnic\xc3\xb6"
                                "de \xe2\x98\x83 \xe6\x96\x87\xe5\xad\x97 "
                                "\xc3\xa9",
                                "Last no trailing newline"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(beir_doc_id(&ds, i), want_ids[i]);
        size_t index;
        assert_true(beir_doc_find(&ds, want_ids[i], &index));
        assert_int_equal(index, i);
        char *text;
        assert_int_equal(beir_doc_text(&ds, i, &text), STATUS_OK);
        assert_string_equal(text, want_texts[i]);
        free(text);
    }
    // Fetch in reverse order by id: each fetch is independent of the last.
    for (size_t i = 4; i-- > 0;) {
        char *text;
        assert_int_equal(beir_doc_fetch(&ds, want_ids[i], &text), STATUS_OK);
        assert_string_equal(text, want_texts[i]);
        free(text);
    }
    // The same rule as the plain JSONL candidate reader.
    doc_list docs;
    assert_int_equal(doc_list_read_jsonl(&docs, path_in(dir, "corpus.jsonl")), STATUS_OK);
    assert_int_equal(docs.n, ds.n_docs);
    for (size_t i = 0; i < docs.n; i++) {
        assert_string_equal(docs.items[i].id, beir_doc_id(&ds, i));
        assert_string_equal(docs.items[i].text, want_texts[i]);
    }
    doc_list_free(&docs);

    char *text = (char *)"x";
    assert_failed(beir_doc_fetch(&ds, "nope", &text), STATUS_ERR_MISSING, "corpus.jsonl", 0,
                  "no document with _id 'nope'");
    assert_null(text);
    assert_false(beir_doc_find(&ds, "d", NULL)); // a prefix is not an id
    assert_int_equal(beir_doc_text(&ds, 4, &text), STATUS_ERR_ARG);

    size_t q1, q2, q3;
    assert_true(beir_query_find(&ds, "q1", &q1));
    assert_true(beir_query_find(&ds, "q2", &q2));
    assert_true(beir_query_find(&ds, "q3", &q3));
    assert_false(beir_query_find(&ds, "q4", NULL));
    assert_string_equal(ds.query_ids[q2], "q2");
    assert_string_equal(ds.query_texts[q1], "what is alpha?");

    assert_int_equal(ds.n_qrels, 3);
    assert_int_equal(ds.n_judged_queries, 2);
    assert_int_equal(ds.n_qrels_skipped, 0);
    size_t n;
    const beir_qrel *judged = beir_query_qrels(&ds, q1, &n);
    assert_int_equal(n, 2);
    assert_string_equal(beir_doc_id(&ds, judged[0].doc), "d1");
    assert_int_equal(judged[0].relevance, 2);
    assert_string_equal(beir_doc_id(&ds, judged[1].doc), "d3");
    assert_int_equal(judged[1].relevance, 0); // judged non-relevant is still judged
    judged = beir_query_qrels(&ds, q2, &n);
    assert_int_equal(n, 1);
    assert_int_equal(judged[0].relevance, 1);
    beir_query_qrels(&ds, q3, &n);
    assert_int_equal(n, 0);

    int rel = -7;
    assert_true(beir_qrel_find(&ds, q1, 0, &rel));
    assert_int_equal(rel, 2);
    assert_true(beir_qrel_find(&ds, q1, 2, &rel));
    assert_int_equal(rel, 0);
    assert_false(beir_qrel_find(&ds, q1, 1, &rel));
    assert_false(beir_qrel_find(&ds, q3, 0, &rel));
    assert_true(beir_split_exists(&ds, "test"));
    assert_false(beir_split_exists(&ds, "dev"));
    beir_close(&ds);
    testutil_rmtree(dir);
    free(dir);
}

static void test_beir_without_qrels_and_split_loading(void **state) {
    (void)state;
    char *dir = testutil_tmpdir();
    write_text(dir, "corpus.jsonl", SMALL_CORPUS);
    write_text(dir, "queries.jsonl", SMALL_QUERIES);
    beir_dataset ds;
    // No qrels folder and no split asked for: a dataset without labels.
    assert_int_equal(beir_open(&ds, dir, NULL, 0), STATUS_OK);
    assert_null(ds.split);
    assert_int_equal(ds.n_qrels, 0);
    size_t n = 99;
    assert_null(beir_query_qrels(&ds, 0, &n));
    assert_int_equal(n, 0);
    assert_false(beir_qrel_find(&ds, 0, 0, NULL));
    assert_false(beir_split_exists(&ds, "test"));
    // Asking for a split that is not there is an error naming the path.
    assert_failed(beir_qrels_load(&ds, "test", 0), STATUS_ERR_IO, path_in(dir, "qrels/test.tsv"), 0,
                  "cannot open");
    assert_null(ds.split);

    assert_int_equal(mkdir(path_in(dir, "qrels"), 0777), 0);
    write_text(dir, "qrels/a.tsv", "query-id\tcorpus-id\tscore\nq3\td2\t3\n");
    write_text(dir, "qrels/b.tsv", "query-id\tcorpus-id\tscore\n"); // header only: no judgements
    assert_int_equal(beir_qrels_load(&ds, "a", 0), STATUS_OK);
    assert_int_equal(ds.n_qrels, 1);
    const beir_qrel *judged = beir_query_qrels(&ds, 2, &n);
    assert_int_equal(n, 1);
    assert_int_equal(judged[0].doc, 1);
    assert_int_equal(judged[0].relevance, 3);
    assert_int_equal(beir_qrels_load(&ds, "b", 0), STATUS_OK); // replaces "a"
    assert_string_equal(ds.split, "b");
    assert_int_equal(ds.n_qrels, 0);
    assert_int_equal(ds.n_judged_queries, 0);
    beir_query_qrels(&ds, 2, &n);
    assert_int_equal(n, 0);
    beir_close(&ds);
    beir_close(&ds); // closing twice is harmless

    // A failed open leaves nothing to close, and names the missing split.
    assert_failed(beir_open(&ds, dir, "dev", 0), STATUS_ERR_IO, path_in(dir, "qrels/dev.tsv"), 0,
                  "No such file");
    testutil_rmtree(dir);
    free(dir);
}

static void test_beir_missing_files(void **state) {
    (void)state;
    char *dir = testutil_tmpdir();
    beir_dataset ds;
    assert_failed(beir_open(&ds, dir, NULL, 0), STATUS_ERR_IO, path_in(dir, "corpus.jsonl"), 0,
                  "cannot open");
    write_text(dir, "corpus.jsonl", SMALL_CORPUS);
    assert_failed(beir_open(&ds, dir, NULL, 0), STATUS_ERR_IO, path_in(dir, "queries.jsonl"), 0,
                  "cannot open");
    assert_failed(beir_open(&ds, "/nonexistent/beir", NULL, 0), STATUS_ERR_IO,
                  "/nonexistent/beir/corpus.jsonl", 0, "No such file");
    testutil_rmtree(dir);
    free(dir);
}

typedef struct {
    const char *file;     // which file of the small dataset to replace
    const char *content;  // its bad content
    status code;          // expected failure
    size_t line;          // expected line in the message (0: none)
    const char *expected; // expected part of the message
} bad_case;

static const bad_case BEIR_BAD_CASES[] = {
    // corpus.jsonl
    {"corpus.jsonl", "{\"_id\": \"d1\", \"text\": \"a\"}\n{\"_id\": \"d2\", \"text\": \n",
     STATUS_ERR_FORMAT, 2, "malformed JSON"},
    {"corpus.jsonl", "[1, 2]\n", STATUS_ERR_FORMAT, 1, "expected a JSON object"},
    {"corpus.jsonl", "\"just a string\"\n", STATUS_ERR_FORMAT, 1, "expected a JSON object"},
    {"corpus.jsonl", "{\"_id\": \"d1\", \"text\": \"a\"}\n{\"text\": \"b\"}\n", STATUS_ERR_MISSING,
     2, "missing key '_id'"},
    {"corpus.jsonl", "{\"_id\": \"d1\", \"title\": \"t\"}\n", STATUS_ERR_MISSING, 1,
     "missing key 'text'"},
    {"corpus.jsonl", "{\"_id\": 17, \"text\": \"a\"}\n", STATUS_ERR_FORMAT, 1,
     "key '_id': expected a string"},
    {"corpus.jsonl", "{\"_id\": \"d1\", \"text\": [\"a\"]}\n", STATUS_ERR_FORMAT, 1,
     "key 'text': expected a string"},
    {"corpus.jsonl",
     "{\"_id\": \"d1\", \"text\": \"a\"}\r\n{\"_id\": \"d2\", \"title\": 3, "
     "\"text\": \"b\"}\r\n",
     STATUS_ERR_FORMAT, 2, "key 'title': expected a string"},
    {"corpus.jsonl", "{\"_id\": \"\", \"text\": \"a\"}\n", STATUS_ERR_FORMAT, 1,
     "key '_id': expected a non-empty string"},
    {"corpus.jsonl",
     "{\"_id\": \"d1\", \"text\": \"a\"}\n\n{\"_id\": \"d2\", \"text\": \"b\"}\n"
     "{\"_id\": \"d1\", \"text\": \"c\"}\n",
     STATUS_ERR_FORMAT, 4, "duplicate document _id 'd1' (first at line 1)"},
    {"corpus.jsonl", "{\"_id\": \"d1\", \"text\": \"a\"} {\"_id\": \"d2\", \"text\": \"b\"}\n",
     STATUS_ERR_FORMAT, 1, "unexpected text after the JSON object at column 28"},
    {"corpus.jsonl", "", STATUS_ERR_FORMAT, 0, "corpus.jsonl: no documents (empty file)"},
    {"corpus.jsonl", "\n  \n", STATUS_ERR_FORMAT, 0, "no documents"},
    // queries.jsonl
    {"queries.jsonl", "{\"_id\": \"q1\", \"text\": \"a\"}\n{\"_id\": \"q2\", \"text\": \"b\"\n",
     STATUS_ERR_FORMAT, 2, "malformed JSON"},
    {"queries.jsonl", "{\"text\": \"a\"}\n", STATUS_ERR_MISSING, 1, "missing key '_id'"},
    {"queries.jsonl", "{\"_id\": \"q1\"}\n", STATUS_ERR_MISSING, 1, "missing key 'text'"},
    {"queries.jsonl", "{\"_id\": \"q1\", \"text\": null}\n", STATUS_ERR_MISSING, 1,
     "missing key 'text'"},
    {"queries.jsonl", "{\"_id\": \"q1\", \"text\": 5}\n", STATUS_ERR_FORMAT, 1,
     "key 'text': expected a string"},
    {"queries.jsonl", "{\"_id\": [\"q1\"], \"text\": \"a\"}\n", STATUS_ERR_FORMAT, 1,
     "key '_id': expected a string"},
    {"queries.jsonl",
     "{\"_id\": \"q1\", \"text\": \"a\"}\n{\"_id\": \"q2\", \"text\": \"b\"}\n"
     "{\"_id\": \"q1\", \"text\": \"c\"}\n",
     STATUS_ERR_FORMAT, 3, "duplicate query _id 'q1' (first at line 1)"},
    {"queries.jsonl", "", STATUS_ERR_FORMAT, 0, "no queries (empty file)"},
    // qrels/test.tsv
    {"qrels/test.tsv", "q1\td1\t1\n", STATUS_ERR_FORMAT, 1,
     "expected the header \"query-id<TAB>corpus-id<TAB>score\", found \"q1"},
    {"qrels/test.tsv", "query-id\tdoc-id\tscore\nq1\td1\t1\n", STATUS_ERR_FORMAT, 1,
     "expected the header"},
    {"qrels/test.tsv", "query-id corpus-id score\nq1\td1\t1\n", STATUS_ERR_FORMAT, 1,
     "(columns must be separated by tabs)"},
    {"qrels/test.tsv", "", STATUS_ERR_FORMAT, 0, "test.tsv: empty file (expected the header"},
    {"qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\n", STATUS_ERR_FORMAT, 2,
     "expected 3 tab-separated columns (query-id, corpus-id, score), found 2"},
    {"qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\t0\n", STATUS_ERR_FORMAT, 2,
     "found 4"},
    {"qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1 d1 1\n", STATUS_ERR_FORMAT, 2, "found 1"},
    {"qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t1.5\n", STATUS_ERR_FORMAT, 3,
     "score '1.5': expected an integer"},
    {"qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\tx\n", STATUS_ERR_FORMAT, 2,
     "score 'x': expected an integer"},
    {"qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t\n", STATUS_ERR_FORMAT, 2,
     "score '': expected an integer"},
    {"qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t99999999999\n", STATUS_ERR_FORMAT, 2,
     "expected an integer"},
    {"qrels/test.tsv", "query-id\tcorpus-id\tscore\n\td1\t1\n", STATUS_ERR_FORMAT, 2,
     "empty query-id"},
    {"qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td1\t1\n", STATUS_ERR_MISSING, 3,
     "query 'q9' is not in"},
    {"qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td9\t1\n", STATUS_ERR_MISSING, 2,
     "document 'd9' is not in"},
    {"qrels/test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td1\t1\nq1\td1\t0\n",
     STATUS_ERR_FORMAT, 4, "duplicate judgement of query 'q1', document 'd1' (first at line 2)"},
};

static void test_beir_errors_name_file_and_line(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof BEIR_BAD_CASES / sizeof BEIR_BAD_CASES[0]; i++) {
        const bad_case *c = &BEIR_BAD_CASES[i];
        char *dir = small_dataset();
        write_text(dir, c->file, c->content);
        beir_dataset ds;
        status st = beir_open(&ds, dir, "test", 0);
        if (st != c->code)
            fail_msg("case %zu (%s): expected %s, got %s: %s", i, c->file, status_name(c->code),
                     status_name(st), status_message());
        assert_failed(st, c->code, path_in(dir, c->file), c->line, c->expected);
        testutil_rmtree(dir);
        free(dir);
    }
}

static void test_beir_unknown_qrels_can_be_skipped(void **state) {
    (void)state;
    char *dir = small_dataset();
    write_text(dir, "qrels/test.tsv",
               "query-id\tcorpus-id\tscore\nq1\td1\t1\nq9\td1\t1\nq2\td9\t1\nq2\td2\t1\n");
    beir_dataset ds;
    assert_failed(beir_open(&ds, dir, "test", 0), STATUS_ERR_MISSING,
                  path_in(dir, "qrels/test.tsv"), 3, "query 'q9' is not in");
    assert_int_equal(beir_open(&ds, dir, "test", BEIR_QRELS_SKIP_UNKNOWN), STATUS_OK);
    assert_int_equal(ds.n_qrels, 2);
    assert_int_equal(ds.n_qrels_skipped, 2);
    assert_int_equal(ds.n_judged_queries, 2);
    // Other errors are still errors under the flag.
    write_text(dir, "qrels/bad.tsv", "query-id\tcorpus-id\tscore\nq9\td1\tone\n");
    assert_failed(beir_qrels_load(&ds, "bad", BEIR_QRELS_SKIP_UNKNOWN), STATUS_ERR_FORMAT,
                  path_in(dir, "qrels/bad.tsv"), 2, "expected an integer");
    assert_null(ds.split); // a failed load leaves no labels
    beir_close(&ds);
    testutil_rmtree(dir);
    free(dir);
}

static void test_beir_bom_and_crlf_everywhere(void **state) {
    (void)state;
    char *dir = testutil_tmpdir();
    write_text(dir, "corpus.jsonl",
               "\xEF\xBB\xBF{\"_id\": \"a\", \"title\": \"T\", \"text\": \"x\"}\r\n"
               "{\"_id\": \"b\", \"text\": \"y\"}\r\n");
    write_text(dir, "queries.jsonl", "\xEF\xBB\xBF{\"_id\": \"q\", \"text\": \"z\"}\r\n");
    assert_int_equal(mkdir(path_in(dir, "qrels"), 0777), 0);
    write_text(dir, "qrels/test.tsv", "\xEF\xBB\xBFquery-id\tcorpus-id\tscore\r\nq\tb\t-1\r\n");
    beir_dataset ds;
    assert_int_equal(beir_open(&ds, dir, "test", 0), STATUS_OK);
    char *text;
    assert_int_equal(beir_doc_fetch(&ds, "a", &text), STATUS_OK);
    assert_string_equal(text, "T x");
    free(text);
    assert_int_equal(beir_doc_fetch(&ds, "b", &text), STATUS_OK);
    assert_string_equal(text, "y");
    free(text);
    int rel = 0;
    assert_true(beir_qrel_find(&ds, 0, 1, &rel));
    assert_int_equal(rel, -1);
    beir_close(&ds);
    testutil_rmtree(dir);
    free(dir);
}

static void test_beir_detects_corpus_changed_after_open(void **state) {
    (void)state;
    char *dir = small_dataset();
    beir_dataset ds;
    assert_int_equal(beir_open(&ds, dir, NULL, 0), STATUS_OK);
    // Same layout, other ids: the offsets now point at the wrong documents.
    write_text(dir, "corpus.jsonl",
               "{\"_id\": \"X1\", \"title\": \"Alpha\", \"text\": \"first doc.\"}\n");
    char *text;
    assert_failed(beir_doc_text(&ds, 0, &text), STATUS_ERR_FORMAT, path_in(dir, "corpus.jsonl"), 1,
                  "expected document 'd1', found 'X1'");
    // Truncated: the line of d4 is gone.
    assert_failed(beir_doc_fetch(&ds, "d4", &text), STATUS_ERR_IO, path_in(dir, "corpus.jsonl"), 5,
                  "short read");
    beir_close(&ds);
    testutil_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------------ TREC */

static const char *SMALL_RUN = "q2 Q0 d4 2 1.5 tagA\n"
                               "q1 Q0 d1 3 0.25 tagA\n"
                               "q1 Q0 d3 1 0.75 tagA\r\n"
                               "\n"
                               "q2 Q0 d1 1 2.0 tagA\n"
                               "q1\t0\td2\t2\t5e-1\ttagA\n";

static void test_trec_read_group_sort_top(void **state) {
    (void)state;
    char *dir = testutil_tmpdir();
    write_text(dir, "run.trec", SMALL_RUN);
    trec_run run;
    assert_int_equal(trec_run_read(&run, path_in(dir, "run.trec")), STATUS_OK);
    assert_int_equal(run.n_queries, 2);
    assert_int_equal(run.n_cands, 5);
    // First-appearance order of queries; rank order within a query.
    assert_string_equal(run.queries[0].qid, "q2");
    assert_string_equal(run.queries[1].qid, "q1");
    assert_int_equal(run.queries[1].line, 2);
    const trec_query *q1 = trec_run_find(&run, "q1");
    assert_ptr_equal(q1, &run.queries[1]);
    assert_null(trec_run_find(&run, "q3"));
    const char *order[] = {"d3", "d2", "d1"};
    const double scores[] = {0.75, 0.5, 0.25};
    const size_t lines[] = {3, 6, 2};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(q1->cands[i].doc_id, order[i]);
        assert_int_equal(q1->cands[i].rank, (int64_t)i + 1);
        assert_true(q1->cands[i].score == scores[i]);
        assert_int_equal(q1->cands[i].line, lines[i]);
        assert_int_equal(q1->cands[i].doc, SIZE_MAX);
    }
    const trec_candidate *top;
    size_t n;
    assert_int_equal(trec_run_top(&run, "q1", 2, &top, &n), STATUS_OK);
    assert_int_equal(n, 2);
    assert_string_equal(top[0].doc_id, "d3");
    assert_string_equal(top[1].doc_id, "d2");
    assert_int_equal(trec_run_top(&run, "q1", 100, &top, &n), STATUS_OK);
    assert_int_equal(n, 3); // fewer than asked: all there is
    assert_int_equal(trec_run_top(&run, "q2", 1, &top, &n), STATUS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(top[0].doc_id, "d1");
    assert_failed(trec_run_top(&run, "q9", 5, &top, &n), STATUS_ERR_MISSING,
                  path_in(dir, "run.trec"), 0, "no query 'q9'");
    assert_int_equal(n, 0);
    assert_int_equal(trec_run_top(&run, "q1", 0, &top, &n), STATUS_ERR_ARG);

    // Resolution against the small BEIR dataset.
    char *bdir = small_dataset();
    beir_dataset ds;
    assert_int_equal(beir_open(&ds, bdir, NULL, 0), STATUS_OK);
    assert_int_equal(trec_run_resolve(&run, &ds), STATUS_OK);
    assert_int_equal(q1->query, 0);
    assert_int_equal(run.queries[0].query, 1);
    assert_int_equal(q1->cands[0].doc, 2);
    assert_int_equal(q1->cands[2].doc, 0);
    char *text;
    assert_int_equal(beir_doc_text(&ds, q1->cands[0].doc, &text), STATUS_OK);
    assert_string_equal(text, "\xc3\x9cnic\xc3\xb6"
                              "de \xe2\x98\x83 \xe6\x96\x87\xe5\xad\x97 "
                              "\xc3\xa9");
    free(text);
    trec_run_free(&run);

    // Unknown ids: the first one in file order is reported.
    write_text(dir, "bad.trec", "q1 Q0 d1 1 1 t\nq1 Q0 d9 2 0.5 t\nq7 Q0 d1 1 1 t\n");
    assert_int_equal(trec_run_read(&run, path_in(dir, "bad.trec")), STATUS_OK);
    assert_failed(trec_run_resolve(&run, &ds), STATUS_ERR_MISSING, path_in(dir, "bad.trec"), 2,
                  "document 'd9' is not in");
    assert_message_has("corpus.jsonl");
    trec_run_free(&run);
    write_text(dir, "bad.trec", "q1 Q0 d1 1 1 t\nq7 Q0 d1 1 1 t\nq1 Q0 d9 2 0.5 t\n");
    assert_int_equal(trec_run_read(&run, path_in(dir, "bad.trec")), STATUS_OK);
    assert_failed(trec_run_resolve(&run, &ds), STATUS_ERR_MISSING, path_in(dir, "bad.trec"), 2,
                  "query 'q7' is not in");
    assert_message_has("queries.jsonl");
    trec_run_free(&run);
    beir_close(&ds);
    testutil_rmtree(bdir);
    free(bdir);
    testutil_rmtree(dir);
    free(dir);
}

static const bad_case TREC_BAD_CASES[] = {
    {NULL, "q1 Q0 d1 1 1.0 t\nq1 Q0 d2 2 0.5\n", STATUS_ERR_FORMAT, 2,
     "expected 6 whitespace-separated columns (qid Q0 docid rank score tag), found 5"},
    {NULL, "q1 Q0 d1 1 1.0 t extra\n", STATUS_ERR_FORMAT, 1, "found 7"},
    {NULL, "q1 Q0 d1 0 1.0 t\n", STATUS_ERR_FORMAT, 1, "rank '0': expected a positive integer"},
    {NULL, "q1 Q0 d1 -2 1.0 t\n", STATUS_ERR_FORMAT, 1, "rank '-2': expected a positive integer"},
    {NULL, "q1 Q0 d1 1.5 1.0 t\n", STATUS_ERR_FORMAT, 1, "rank '1.5'"},
    {NULL, "q1 Q0 d1 one 1.0 t\n", STATUS_ERR_FORMAT, 1, "rank 'one'"},
    {NULL, "q1 Q0 d1 99999999999999999999 1.0 t\n", STATUS_ERR_FORMAT, 1, "rank '9999"},
    {NULL, "q1 Q0 d1 1 high t\n", STATUS_ERR_FORMAT, 1, "score 'high': expected a number"},
    {NULL, "q1 Q0 d1 1 1.0x t\n", STATUS_ERR_FORMAT, 1, "score '1.0x'"},
    {NULL, "q1 Q0 d1 1 1 t\nq1 Q0 d2 2 nan t\n", STATUS_ERR_NUMERIC, 2,
     "score 'nan': expected a finite number"},
    {NULL, "q1 Q0 d1 1 -inf t\n", STATUS_ERR_NUMERIC, 1, "expected a finite number"},
    {NULL, "q1 Q0 d1 1 1e999 t\n", STATUS_ERR_NUMERIC, 1, "expected a finite number"},
    {NULL, "q1 Q0 d1 1 1 t\nq2 Q0 d1 1 1 t\nq1 Q0 d1 2 0.5 t\n", STATUS_ERR_FORMAT, 3,
     "duplicate document 'd1' for query 'q1' (first at line 1)"},
    {NULL, "q1 Q0 d1 1 1 t\nq1 Q0 d2 2 1 t\nq1 Q0 d3 2 1 t\n", STATUS_ERR_FORMAT, 3,
     "rank 2 of query 'q1' already used at line 2"},
    {NULL, "", STATUS_ERR_FORMAT, 0, "no run lines (empty file)"},
    {NULL, "\n \n", STATUS_ERR_FORMAT, 0, "no run lines"},
};

static void test_trec_errors_name_file_and_line(void **state) {
    (void)state;
    char *dir = testutil_tmpdir();
    const char *path = path_in(dir, "run.trec");
    trec_run run;
    for (size_t i = 0; i < sizeof TREC_BAD_CASES / sizeof TREC_BAD_CASES[0]; i++) {
        const bad_case *c = &TREC_BAD_CASES[i];
        write_text(dir, "run.trec", c->content);
        status st = trec_run_read(&run, path);
        if (st != c->code)
            fail_msg("case %zu: expected %s, got %s: %s", i, status_name(c->code), status_name(st),
                     status_message());
        assert_failed(st, c->code, path, c->line, c->expected);
        assert_null(run.queries); // nothing left allocated
    }
    assert_failed(trec_run_read(&run, "/nonexistent/run.trec"), STATUS_ERR_IO,
                  "/nonexistent/run.trec", 0, "cannot open");
    testutil_rmtree(dir);
    free(dir);
}

// Names in `dir` other than "." and "..", as one space-separated string.
static void list_dir(const char *dir, char *out, size_t cap) {
    out[0] = '\0';
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        strncat(out, e->d_name, cap - strlen(out) - 2);
        strcat(out, " ");
    }
    closedir(d);
}

static void test_trec_write_read_round_trip(void **state) {
    (void)state;
    char *dir = testutil_tmpdir();
    const char *path = path_in(dir, "out.trec");
    trec_writer w;
    assert_int_equal(trec_writer_open(&w, path, "grating-test"), STATUS_OK);
    const char *docs1[] = {"d7", "d1", "d3"};
    const double scores1[] = {3.5, 0.1234567890123, -1e-12};
    const char *docs2[] = {"d2"};
    const double scores2[] = {(double)0.3f};
    assert_int_equal(trec_writer_add(&w, "q1", docs1, scores1, 3), STATUS_OK);
    // Input errors write nothing and leave the writer usable.
    assert_failed(trec_writer_add(&w, "q1", docs2, scores2, 1), STATUS_ERR_ARG, path, 0,
                  "query 'q1' written twice");
    const char *bad_docs[] = {"d1", "has space"};
    const double ok2[] = {1, 0};
    assert_failed(trec_writer_add(&w, "q5", bad_docs, ok2, 2), STATUS_ERR_ARG, path, 0,
                  "docid 'has space'");
    const char *dup_docs[] = {"d1", "d1"};
    assert_failed(trec_writer_add(&w, "q5", dup_docs, ok2, 2), STATUS_ERR_ARG, path, 0,
                  "document 'd1' given twice");
    const double nan2[] = {1, NAN};
    const char *good_docs[] = {"d1", "d2"};
    assert_failed(trec_writer_add(&w, "q5", good_docs, nan2, 2), STATUS_ERR_NUMERIC, path, 0,
                  "not finite");
    assert_failed(trec_writer_add(&w, "q 5", good_docs, ok2, 2), STATUS_ERR_ARG, path, 0, "qid");
    assert_int_equal(trec_writer_add(&w, "q2", docs2, scores2, 1), STATUS_OK);
    const double huge[] = {-1e20};
    assert_int_equal(trec_writer_add(&w, "q3", docs2, huge, 1), STATUS_OK);
    // Until close, only the temporary file exists.
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0);
    char names[1024];
    list_dir(dir, names, sizeof names);
    assert_non_null(strstr(names, "out.trec.tmp."));
    assert_int_equal(trec_writer_close(&w), STATUS_OK);
    list_dir(dir, names, sizeof names);
    assert_string_equal(names, "out.trec ");

    char *text;
    size_t len;
    assert_int_equal(file_read_all(path, &text, &len), STATUS_OK);
    assert_string_equal(text, "q1 Q0 d7 1 3.500000 grating-test\n"
                              "q1 Q0 d1 2 0.1234567890123 grating-test\n"
                              "q1 Q0 d3 3 -0.000000000001 grating-test\n"
                              "q2 Q0 d2 1 0.30000001192092896 grating-test\n"
                              "q3 Q0 d2 1 -1e+20 grating-test\n");
    free(text);

    trec_run run;
    assert_int_equal(trec_run_read(&run, path), STATUS_OK);
    assert_int_equal(run.n_queries, 3);
    const trec_query *q1 = trec_run_find(&run, "q1");
    assert_int_equal(q1->n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(q1->cands[i].doc_id, docs1[i]);
        assert_int_equal(q1->cands[i].rank, (int64_t)i + 1);
        assert_true(q1->cands[i].score == scores1[i]); // bit-exact
    }
    assert_true(trec_run_find(&run, "q2")->cands[0].score == scores2[0]);
    assert_true(trec_run_find(&run, "q3")->cands[0].score == huge[0]);
    trec_run_free(&run);
    testutil_rmtree(dir);
    free(dir);
}

static void test_trec_writer_abort_and_errors(void **state) {
    (void)state;
    char *dir = testutil_tmpdir();
    const char *path = path_in(dir, "out.trec");
    trec_writer w;
    assert_int_equal(trec_writer_open(&w, path, "t"), STATUS_OK);
    const char *docs[] = {"d1"};
    const double scores[] = {1};
    assert_int_equal(trec_writer_add(&w, "q1", docs, scores, 1), STATUS_OK);
    trec_writer_abort(&w); // e.g. the reranker failed on the next query
    char names[1024];
    list_dir(dir, names, sizeof names);
    assert_string_equal(names, ""); // neither out.trec nor a temporary file

    assert_failed(trec_writer_open(&w, path, "two words"), STATUS_ERR_ARG, path, 0, "run tag");
    assert_failed(trec_writer_open(&w, "/nonexistent/dir/out.trec", "t"), STATUS_ERR_IO,
                  "/nonexistent/dir/out.trec.tmp.", 0, "cannot create");
    trec_writer_abort(&w); // harmless after a failed open

    // An existing file is only replaced by a successful close.
    write_text(dir, "out.trec", "old\n");
    assert_int_equal(trec_writer_open(&w, path, "t"), STATUS_OK);
    assert_int_equal(trec_writer_add(&w, "q1", docs, scores, 1), STATUS_OK);
    char *text;
    size_t len;
    assert_int_equal(file_read_all(path, &text, &len), STATUS_OK);
    assert_string_equal(text, "old\n");
    free(text);
    assert_int_equal(trec_writer_close(&w), STATUS_OK);
    assert_int_equal(file_read_all(path, &text, &len), STATUS_OK);
    assert_string_equal(text, "q1 Q0 d1 1 1.000000 t\n");
    free(text);
    testutil_rmtree(dir);
    free(dir);
}

/* ------------------------------------------- issue 10: ids, NULs, files */

// The writer accepts exactly the ids the reader reads back: every id the
// shared rule accepts round-trips, every one it refuses is refused by the
// writer (STATUS_ERR_ARG, nothing written) and, as a docid in a run file,
// cannot be read as one column.
static void test_trec_writer_accepts_what_reader_reads(void **state) {
    (void)state;
    char *dir = testutil_tmpdir();
    const char *ids[] = {"d",    "x-1",  "é",    "a/b",  "\"q\"", "a b", "",
                         "a\tb", "a\rb", "a\vb", "a\fb", "a\nb",  " a",  "a "};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        int valid = trec_id_valid(ids[i]);
        const char *path = path_in(dir, "w.trec");
        trec_writer w;
        assert_int_equal(trec_writer_open(&w, path, "t"), STATUS_OK);
        const char *one[] = {ids[i]};
        const double score[] = {1.0};
        status st = trec_writer_add(&w, "q", one, score, 1);
        assert_int_equal(st, valid ? STATUS_OK : STATUS_ERR_ARG);
        assert_int_equal(trec_writer_close(&w), STATUS_OK);
        trec_run run;
        if (valid) {
            assert_int_equal(trec_run_read(&run, path), STATUS_OK);
            assert_string_equal(run.queries[0].cands[0].doc_id, ids[i]);
            trec_run_free(&run);
        }
        // The same id hand-written as a docid: read back as the same single
        // column only when the rule accepts it.
        char line[128];
        snprintf(line, sizeof line, "q Q0 %s 1 1.0 t\n", ids[i]);
        write_text(dir, "h.trec", line);
        status rst = trec_run_read(&run, path_in(dir, "h.trec"));
        int same = rst == STATUS_OK && strcmp(run.queries[0].cands[0].doc_id, ids[i]) == 0;
        if (rst == STATUS_OK) trec_run_free(&run);
        assert_int_equal(same, valid);
        // The tag and qid go through the same rule.
        assert_int_equal(trec_writer_open(&w, path, ids[i]), valid ? STATUS_OK : STATUS_ERR_ARG);
        if (valid) {
            assert_int_equal(trec_writer_add(&w, ids[i], (const char *[]){"d"}, score, 1),
                             STATUS_OK);
            assert_int_equal(trec_writer_close(&w), STATUS_OK);
        }
    }
    testutil_rmtree(dir);
    free(dir);
}

// A NUL byte in a run or qrels line used to cut an id silently.
static void test_nul_in_run_and_qrels(void **state) {
    (void)state;
    char *dir = testutil_tmpdir();
    const char run_text[] = "q Q0 d1 1 2.0 t\nq Q0 d2\0x 2 1.0 t\n";
    testutil_write_file(path_in(dir, "nul.trec"), run_text, sizeof run_text - 1);
    trec_run run;
    assert_failed(trec_run_read(&run, path_in(dir, "nul.trec")), STATUS_ERR_FORMAT,
                  path_in(dir, "nul.trec"), 2, "column 8: a NUL byte");
    write_text(dir, "corpus.jsonl", "{\"_id\":\"d1\",\"text\":\"x\"}\n");
    write_text(dir, "queries.jsonl", "{\"_id\":\"q\",\"text\":\"y\"}\n");
    assert_int_equal(mkdir(path_in(dir, "qrels"), 0755), 0);
    const char qrels[] = "query-id\tcorpus-id\tscore\nq\td1\t1\0 7\n";
    testutil_write_file(path_in(dir, "qrels/test.tsv"), qrels, sizeof qrels - 1);
    beir_dataset ds;
    assert_failed(beir_open(&ds, dir, "test", 0), STATUS_ERR_FORMAT, "qrels/test.tsv", 2,
                  "NUL byte");
    // \u0000 in a corpus or queries line: named, not cut.
    write_text(dir, "corpus.jsonl", "{\"_id\":\"d1\",\"text\":\"x\\u0000y\"}\n");
    assert_failed(beir_open(&ds, dir, NULL, 0), STATUS_ERR_FORMAT, "corpus.jsonl", 1,
                  "field \"text\" contains the escape \\u0000");
    write_text(dir, "corpus.jsonl", "{\"_id\":\"d1\",\"text\":\"x\"}\n");
    write_text(dir, "queries.jsonl", "{\"_id\":\"q\\u0000\",\"text\":\"y\"}\n");
    assert_failed(beir_open(&ds, dir, NULL, 0), STATUS_ERR_FORMAT, "queries.jsonl", 1,
                  "field \"_id\"");
    testutil_rmtree(dir);
    free(dir);
}

// Directories where files are expected are named as such.
static void test_directories_named(void **state) {
    (void)state;
    char *dir = testutil_tmpdir();
    assert_int_equal(mkdir(path_in(dir, "x.jsonl"), 0755), 0);
    doc_list docs;
    assert_failed(doc_list_read_jsonl(&docs, path_in(dir, "x.jsonl")), STATUS_ERR_IO,
                  path_in(dir, "x.jsonl"), 0, "is a directory");
    trec_run run;
    assert_failed(trec_run_read(&run, path_in(dir, "x.jsonl")), STATUS_ERR_IO,
                  path_in(dir, "x.jsonl"), 0, "is a directory");
    char *text;
    size_t len;
    assert_failed(file_read_all(path_in(dir, "x.jsonl"), &text, &len), STATUS_ERR_IO,
                  path_in(dir, "x.jsonl"), 0, "is a directory");
    assert_int_equal(mkdir(path_in(dir, "corpus.jsonl"), 0755), 0);
    beir_dataset ds;
    assert_failed(beir_open(&ds, dir, NULL, 0), STATUS_ERR_IO, "corpus.jsonl", 0, "is a directory");
    testutil_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------ real data (SciFact) */

static void test_scifact_dataset(void **state) {
    (void)state;
    const char *dir = testutil_shared_path("data/scifact");
    if (!dir) skip();
    char dir_copy[4096];
    snprintf(dir_copy, sizeof dir_copy, "%s", dir);
    beir_dataset ds;
    // Best of 3, so a busy machine does not make the number meaningless.
    double best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = clock_now_seconds();
        assert_int_equal(beir_open(&ds, dir_copy, NULL, 0), STATUS_OK);
        double t = clock_now_seconds() - t0;
        if (t < best) best = t;
        if (rep < 2) beir_close(&ds);
    }
    fprintf(stderr, "scifact: corpus index + queries opened in %.1f ms (best of 3)\n", best * 1e3);
    assert_int_equal(ds.n_docs, 5183);
    assert_int_equal(ds.n_queries, 1109);

    assert_int_equal(beir_qrels_load(&ds, "test", 0), STATUS_OK);
    assert_int_equal(ds.n_judged_queries, 300);
    assert_int_equal(ds.n_qrels, 339);
    for (size_t i = 0; i < ds.n_qrels; i++)
        assert_int_equal(ds.qrels[i].relevance, 1);
    assert_int_equal(beir_qrels_load(&ds, "train", 0), STATUS_OK);
    assert_int_equal(ds.n_judged_queries, 809);
    assert_int_equal(ds.n_qrels, 919);

    // Every document fetched by offset equals what docs_jsonl reads.
    doc_list docs;
    assert_int_equal(doc_list_read_jsonl(&docs, ds.corpus_path), STATUS_OK);
    assert_int_equal(docs.n, ds.n_docs);
    double t0 = clock_now_seconds();
    for (size_t i = 0; i < docs.n; i++) {
        size_t index;
        assert_true(beir_doc_find(&ds, docs.items[i].id, &index));
        assert_int_equal(index, i);
        char *text;
        assert_int_equal(beir_doc_fetch(&ds, docs.items[i].id, &text), STATUS_OK);
        assert_string_equal(text, docs.items[i].text);
        free(text);
    }
    fprintf(stderr, "scifact: %zu documents fetched in %.1f ms\n", docs.n,
            (clock_now_seconds() - t0) * 1e3);
    doc_list_free(&docs);
    beir_close(&ds);
}

static void test_scifact_bm25_run(void **state) {
    (void)state;
    const char *dir = testutil_shared_path("data/scifact");
    const char *run_path = testutil_shared_path("data/scifact/bm25/test.bm25.top100.trec");
    if (!dir || !run_path) skip();
    char dir_copy[4096], run_copy[4096];
    snprintf(dir_copy, sizeof dir_copy, "%s", dir);
    snprintf(run_copy, sizeof run_copy, "%s", run_path);
    beir_dataset ds;
    assert_int_equal(beir_open(&ds, dir_copy, "test", 0), STATUS_OK);
    trec_run run;
    assert_int_equal(trec_run_read(&run, run_copy), STATUS_OK);
    // 300 test queries; 299 have 100 candidates, query 768 matches only 66
    // documents (PROVENANCE.md: 29,966 lines).
    assert_int_equal(run.n_queries, 300);
    assert_int_equal(run.n_cands, 29966);
    size_t full = 0;
    for (size_t q = 0; q < run.n_queries; q++) {
        const trec_query *tq = &run.queries[q];
        if (tq->n == 100)
            full++;
        else
            assert_string_equal(tq->qid, "768");
        for (size_t i = 0; i < tq->n; i++)
            assert_int_equal(tq->cands[i].rank, (int64_t)i + 1);
    }
    assert_int_equal(full, 299);
    assert_int_equal(trec_run_find(&run, "768")->n, 66);

    assert_int_equal(trec_run_resolve(&run, &ds), STATUS_OK);
    for (size_t q = 0; q < run.n_queries; q++) {
        const trec_query *tq = &run.queries[q];
        size_t n;
        beir_query_qrels(&ds, tq->query, &n);
        assert_true(n > 0); // the run covers exactly the judged test queries
        for (size_t i = 0; i < tq->n; i++)
            assert_true(tq->cands[i].doc < ds.n_docs);
    }
    const trec_candidate *top;
    size_t n;
    assert_int_equal(trec_run_top(&run, "1", 10, &top, &n), STATUS_OK);
    assert_int_equal(n, 10);
    assert_string_equal(top[0].doc_id, "34386619");
    assert_true(top[0].score == 9.745965);
    char *text;
    assert_int_equal(beir_doc_text(&ds, top[0].doc, &text), STATUS_OK);
    assert_true(strlen(text) > 0);
    free(text);

    // Written back through the writer, the run is byte-identical: ranks are
    // 1..n and %.6f scores are reproduced exactly.
    char *tmp = testutil_tmpdir();
    const char *out = path_in(tmp, "copy.trec");
    trec_writer w;
    assert_int_equal(trec_writer_open(&w, out, "bm25_porter_k1_0.9_b_0.4"), STATUS_OK);
    const char *ids[100];
    double scores[100];
    for (size_t q = 0; q < run.n_queries; q++) {
        const trec_query *tq = &run.queries[q];
        for (size_t i = 0; i < tq->n; i++) {
            ids[i] = tq->cands[i].doc_id;
            scores[i] = tq->cands[i].score;
        }
        assert_int_equal(trec_writer_add(&w, tq->qid, ids, scores, tq->n), STATUS_OK);
    }
    assert_int_equal(trec_writer_close(&w), STATUS_OK);
    char *a, *b;
    size_t la, lb;
    assert_int_equal(file_read_all(run_copy, &a, &la), STATUS_OK);
    assert_int_equal(file_read_all(out, &b, &lb), STATUS_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
    testutil_rmtree(tmp);
    free(tmp);
    trec_run_free(&run);
    beir_close(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_beir_small_dataset),
        cmocka_unit_test(test_beir_without_qrels_and_split_loading),
        cmocka_unit_test(test_beir_missing_files),
        cmocka_unit_test(test_beir_errors_name_file_and_line),
        cmocka_unit_test(test_beir_unknown_qrels_can_be_skipped),
        cmocka_unit_test(test_beir_bom_and_crlf_everywhere),
        cmocka_unit_test(test_beir_detects_corpus_changed_after_open),
        cmocka_unit_test(test_trec_read_group_sort_top),
        cmocka_unit_test(test_trec_errors_name_file_and_line),
        cmocka_unit_test(test_trec_write_read_round_trip),
        cmocka_unit_test(test_trec_writer_abort_and_errors),
        cmocka_unit_test(test_trec_writer_accepts_what_reader_reads),
        cmocka_unit_test(test_nul_in_run_and_qrels),
        cmocka_unit_test(test_directories_named),
        cmocka_unit_test(test_scifact_dataset),
        cmocka_unit_test(test_scifact_bm25_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
