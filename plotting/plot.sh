#!/usr/bin/env bash
# plotting/plot.sh - grating's CSV results -> PNG and SVG figures (gnuplot).
#
#   plotting/plot.sh KIND INPUT.csv OUT_PREFIX [options]
#
# writes OUT_PREFIX.png (1200x800, pngcairo) and OUT_PREFIX.svg (svg). Columns
# are selected by name from the CSV header (RFC 4180 quoting: quoted fields may
# hold commas, doubled quotes and newlines). Needs bash, a POSIX awk (mawk or
# gawk) and gnuplot 5.4 (Debian: gnuplot-nox). See plotting/README.md.
set -euo pipefail

prog=plot.sh
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kinds="pareto ndcg-compute stability memory-timeline ablation latency-n"

usage() {
    cat <<EOF
usage: plotting/plot.sh KIND INPUT.csv OUT_PREFIX [options]

Writes OUT_PREFIX.png and OUT_PREFIX.svg. KIND and the CSV columns it needs
(selected by name, any order, other columns ignored):
  pareto           grating sweep CSV: policy, k, precision_at_k_vs_full and the
                   x column (fraction_computed | flops_fraction | latency_ms).
                   Rows with policy first-stage (the trace's first-stage
                   ranking) are drawn as a dotted line, not as points.
                   One panel per K; points per policy; Pareto front (step line).
  ndcg-compute     grating sweep CSV: policy, k, nDCG@10 and the x column; the
                   first-stage rows as a dotted line.
                   One panel per K; the full model (policy none) as a line.
  stability        grating stability --out CSV: layer, kendall_tau, gk_gamma,
                   cluster_gamma, overlap_at_10 (n_queries optional).
  memory-timeline  system, t_ms, bytes (long format, one row per sample).
  ablation         step, latency_ms, peak_mib (rows in the order of the steps).
  latency-n        system, n, latency_ms.

options:
  --title-note TEXT  second title line (model, dataset, N, date, ...)
  --title TEXT       replaces the default first title line
  --x WHAT           pareto/ndcg-compute x axis: fraction (default: share of
                     candidate-layers computed), flops (share of the full
                     forward's FLOPs) or latency (predicted ms per query)
  --k LIST           pareto/ndcg-compute: only these K values (comma-separated)
  --series SPEC      pareto/ndcg-compute: what a colour stands for, comma-separated
                     items: a column name (default: policy) or params.KEY (a
                     top-level key of the params JSON), e.g. params.k,params.score
  --ref VALUE        ndcg-compute: the full model's nDCG@10 for the reference line
                     (default: the mean of the rows with policy none)
  --log AXES         latency-n: logarithmic axes, x, y or xy
  --keep-data        also keep the data gnuplot drew in OUT_PREFIX.data/
                     (pareto: front.dat holds the Pareto front per K)
  -h, --help         this text
EOF
}

die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }
usage_die() { printf '%s: %s\n' "$prog" "$*" >&2; printf "run 'plotting/plot.sh --help' for the usage\n" >&2; exit 2; }

case ${1:-} in -h|--help) usage; exit 0 ;; esac
[ $# -ge 3 ] || usage_die "expected KIND INPUT.csv OUT_PREFIX (got $# arguments)"
kind=$1 input=$2 out=$3
shift 3

case " $kinds " in
*" $kind "*) ;;
*) usage_die "unknown KIND '$kind' (expected one of: $kinds)" ;;
esac

refval="" note="" title="" xsel=fraction klist="" series=policy logaxes="" keep=0
need_arg() { [ $# -ge 2 ] || usage_die "option $1 needs a value"; }
while [ $# -gt 0 ]; do
    case $1 in
    --title-note) need_arg "$@"; note=$2; shift 2 ;;
    --title) need_arg "$@"; title=$2; shift 2 ;;
    --x) need_arg "$@"; xsel=$2; shift 2 ;;
    --k) need_arg "$@"; klist=$2; shift 2 ;;
    --series) need_arg "$@"; series=$2; shift 2 ;;
    --ref) need_arg "$@"; refval=$2; shift 2 ;;
    --log) need_arg "$@"; logaxes=$2; shift 2 ;;
    --keep-data) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage_die "unknown option '$1'" ;;
    esac
done

case $xsel in
fraction) xcol=fraction_computed ;;
flops) xcol=flops_fraction ;;
latency) xcol=latency_ms ;;
*) usage_die "--x must be fraction, flops or latency (got '$xsel')" ;;
esac
case $logaxes in ""|x|y|xy|yx) ;; *) usage_die "--log must be x, y or xy (got '$logaxes')" ;; esac
if [ -n "$refval" ]; then
    [[ $refval =~ ^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$ ]] || usage_die "--ref must be a number (got '$refval')"
fi
if [ -n "$klist" ]; then
    [[ $klist =~ ^[0-9]+(,[0-9]+)*$ ]] || usage_die "--k must be a comma-separated list of integers (got '$klist')"
fi
[[ $series =~ ^[A-Za-z0-9_.]+(,[A-Za-z0-9_.]+)*$ ]] ||
    usage_die "--series must be comma-separated column names or params.KEY (got '$series')"

[ -e "$input" ] || die "$input: no such file"
[ -f "$input" ] || die "$input: not a regular file"
[ -r "$input" ] || die "$input: not readable"
[ -s "$input" ] || die "$input: empty file (expected a CSV with a header line)"
[ -n "$out" ] || usage_die "OUT_PREFIX is empty"

# Required columns per kind.
series_cols=""
IFS=, read -r -a items <<<"$series"
for it in "${items[@]}"; do
    case $it in params.*) c=params ;; *) c=$it ;; esac
    case ",$series_cols," in *",$c,"*) ;; *) series_cols="$series_cols,$c" ;; esac
done
case $kind in
pareto) req="k,precision_at_k_vs_full,$xcol$series_cols" ;;
ndcg-compute) req="k,nDCG@10,$xcol$series_cols" ;;
stability) req="layer,kendall_tau,gk_gamma,cluster_gamma,overlap_at_10" ;;
memory-timeline) req="system,t_ms,bytes" ;;
ablation) req="step,latency_ms,peak_mib" ;;
latency-n) req="system,n,latency_ms" ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/grating-plot-XXXXXX")
trap 'rm -rf -- "$work" "$out.png.tmp.$$" "$out.svg.tmp.$$"' EXIT

# ---------------------------------------------------------------------------
# CSV -> gnuplot data files (tab-separated) + vars.gp (counts, names, ranges).
# POSIX awk only (runs under mawk and gawk).
# shellcheck disable=SC2016
prep_awk='
function fail(msg) { printf "%s: %s: %s\n", prog, input, msg | "cat 1>&2"; failed = 1; exit 1 }
function gq(s) { gsub(/\047/, "\047\047", s); return "\047" s "\047" }   # gnuplot single-quoted string
function csv_split(line, f,    n, i, c, q, field, len) {
    if (index(line, "\"") == 0) return split(line, f, ",")
    n = 0; field = ""; q = 0; len = length(line)
    for (i = 1; i <= len; i++) {
        c = substr(line, i, 1)
        if (q) {
            if (c == "\"") {
                if (substr(line, i + 1, 1) == "\"") { field = field "\""; i++ } else q = 0
            } else field = field c
        } else if (c == "\"") q = 1
        else if (c == ",") { f[++n] = field; field = "" }
        else field = field c
    }
    f[++n] = field
    return q ? -1 : n
}
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
# Numeric value of field `name`, or "NaN" for nan/empty; fails on anything else.
function num(name,    v, lv) {
    v = trim(F[col[name]]); lv = tolower(v)
    if (v == "" || lv == "nan" || lv == "-nan" || lv == "+nan") return "NaN"
    if (v !~ /^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$/)
        fail("line " recline ": column " name ": \"" v "\" is not a number")
    return v + 0
}
function str(name) { return trim(F[col[name]]) }
function isnan(v) { return v "" == "NaN" }
# Value of a top-level scalar key of a flat JSON object ("" when absent).
function json_get(js, key,    p, rest, v, i) {
    p = index(js, "\"" key "\"")
    if (!p) return ""
    rest = substr(js, p + length(key) + 2)
    sub(/^[ \t]*:[ \t]*/, "", rest)
    if (substr(rest, 1, 1) == "\"") { v = substr(rest, 2); i = index(v, "\""); return substr(v, 1, i - 1) }
    if (match(rest, /^[^,}\]]*/)) return trim(substr(rest, 1, RLENGTH))
    return ""
}
# Shell sort of ids ord[1..n]: key1 ascending, then key2 descending, then id.
function before(a, b) {
    if (key1[a] != key1[b]) return key1[a] < key1[b]
    if (key2[a] != key2[b]) return key2[a] > key2[b]
    return a < b
}
function sort_ids(ord, n,    gap, i, j, t) {
    for (gap = int(n / 2); gap > 0; gap = int(gap / 2))
        for (i = gap + 1; i <= n; i++) {
            t = ord[i]
            for (j = i; j > gap && before(t, ord[j - gap]); j -= gap) ord[j] = ord[j - gap]
            ord[j] = t
        }
}
function fmt(v) { return isnan(v) ? "NaN" : sprintf("%.10g", v) }
function series_label(    i, it, v, lab, m) {
    lab = ""
    for (i = 1; i <= nspec; i++) {
        it = spec[i]
        if (substr(it, 1, 7) == "params.") {
            m = substr(it, 8); v = json_get(str("params"), m)
            if (v == "") v = "default"
            v = m "=" v
        } else if (it == "policy") v = str(it)
        else v = it "=" str(it)
        lab = lab (i > 1 ? ", " : "") v
    }
    return lab
}
BEGIN {
    input = ENVIRON["PLOT_INPUT"]; note = ENVIRON["PLOT_NOTE"]; title = ENVIRON["PLOT_TITLE"]
    nreq = split(req, reqcol, ",")
    nspec = split(spec_s, spec, ",")
    if (klist != "") { nkf = split(klist, kf, ","); for (i = 1; i <= nkf; i++) kwant[kf[i] + 0] = 1 }
    nrow = 0; rec = ""; line = 0
}
{
    sub(/\r$/, "")
    line++
    if (rec == "") recline = line
    rec = (rec == "") ? $0 : rec "\n" $0
    n = csv_split(rec, F)
    if (n < 0) next                      # quoted field continues on the next line
    r = rec; rec = ""
    if (!have_header) {
        if (trim(r) == "") next
        sub(/^\357\273\277/, "", F[1])   # UTF-8 byte order mark
        for (i = 1; i <= n; i++) { h = trim(F[i]); if (h != "" && !(h in col)) col[h] = i }
        ncol = n; have_header = 1
        miss = ""
        for (i = 1; i <= nreq; i++) if (!(reqcol[i] in col)) miss = miss (miss == "" ? "" : ", ") reqcol[i]
        if (miss != "") {
            hdr = ""; for (i = 1; i <= n; i++) hdr = hdr (i > 1 ? "," : "") trim(F[i])
            fail("missing required column(s) " miss " for plot kind " kind " (header: " hdr ")")
        }
        next
    }
    if (trim(r) == "") next
    if (n != ncol) fail("line " recline ": " n " fields, the header has " ncol)
    nrow++
    if (kind == "pareto" || kind == "ndcg-compute") row_sweep()
    else if (kind == "stability") row_stability()
    else if (kind == "memory-timeline" || kind == "latency-n") row_series()
    else if (kind == "ablation") row_ablation()
}
function row_sweep(    k, x, y, lab, s) {
    k = num("k")
    if (isnan(k)) fail("line " recline ": column k is empty")
    if (klist != "" && !((k + 0) in kwant)) return
    x = num(xcol); y = num(ycol)
    if ("n_queries" in col) { nq = num("n_queries"); if (!isnan(nq)) { if (nqmin == "" || nq < nqmin) nqmin = nq; if (nqmax == "" || nq > nqmax) nqmax = nq } }
    if (("policy" in col) && str("policy") == "none" && !isnan(y)) { refsum[k] += y; refn[k]++; refall += y; refalln++ }
    # The first-stage ranking (no reranker): a reference line, not a point.
    if (("policy" in col) && str("policy") == "first-stage") { if (!isnan(y)) { basesum[k] += y; basen[k]++; basealln++ }; return }
    if (isnan(x) || isnan(y)) { nskip++; return }
    lab = series_label()
    if (!(lab in sid)) { sid[lab] = ++ns; sname[ns] = lab }
    if (!(k in kseen)) { kseen[k] = 1; kv[++nk] = k }
    np++; px[np] = x; py[np] = y; pk[np] = k; ps[np] = sid[lab]
    pcfg[np] = ("config" in col) ? str("config") : nrow
    ppar[np] = ("params" in col) ? str("params") : ""
    if (ymin == "" || y < ymin) ymin = y
    if (ymax == "" || y > ymax) ymax = y
    if (xmax == "" || x > xmax) xmax = x
}
function row_stability(    l) {
    l = num("layer")
    if (isnan(l)) fail("line " recline ": column layer is empty")
    np++; key1[np] = l; key2[np] = 0
    st_l[np] = l; st_tau[np] = num("kendall_tau"); st_g[np] = num("gk_gamma")
    st_cg[np] = num("cluster_gamma"); st_o[np] = num("overlap_at_10")
    if ("n_queries" in col) { nq = num("n_queries"); if (!isnan(nq) && (nqmax == "" || nq > nqmax)) nqmax = nq }
}
function row_series(    name, x, y) {
    name = str("system")
    if (name == "") fail("line " recline ": column system is empty")
    if (kind == "memory-timeline") { x = num("t_ms"); y = num("bytes"); if (!isnan(y)) y = y / 1048576 }
    else { x = num("n"); y = num("latency_ms") }
    if (isnan(x) || isnan(y)) { nskip++; return }
    if (!(name in sid)) { sid[name] = ++ns; sname[ns] = name; peak[ns] = y }
    s = sid[name]
    np++; key1[np] = s; key2[np] = -x; px[np] = x; py[np] = y
    if (y > peak[s]) peak[s] = y
    if (kind == "latency-n") { dk = s SUBSEP x; if (dk in dup) ndup++; dup[dk] = 1 }
}
function row_ablation(    s) {
    s = str("step")
    np++; ab_s[np] = s; ab_l[np] = num("latency_ms"); ab_m[np] = num("peak_mib")
    if (isnan(ab_l[np]) || isnan(ab_m[np])) fail("line " recline ": step \"" s "\" has no latency_ms or peak_mib value")
}
END {
    if (failed) exit 1
    if (rec != "") fail("line " recline ": unterminated quoted field")
    if (!have_header) fail("no header line")
    if (nrow == 0) fail("no data rows after the header")
    V = dir "/vars.gp"
    printf "note = %s\nmain_title = %s\n", gq(note), gq(title) > V
    if (kind == "pareto" || kind == "ndcg-compute") end_sweep()
    else if (kind == "stability") end_stability()
    else if (kind == "memory-timeline" || kind == "latency-n") end_series()
    else end_ablation()
    if (nskip) printf "%s: %s: %d row(s) without a value to plot (nan or empty) skipped\n", prog, input, nskip | "cat 1>&2"
}
function end_sweep(    i, j, ki, si, k, cnt, D, Fr, best, m, pres, ord, nfr, nqs) {
    if (np == 0) fail("no row has numeric values in " xcol " and " ycol (klist != "" ? " for K in {" klist "}" : ""))
    # K values ascending
    for (i = 2; i <= nk; i++) { k = kv[i]; for (j = i - 1; j >= 1 && kv[j] > k; j--) kv[j + 1] = kv[j]; kv[j + 1] = k }
    D = dir "/points.dat"; Fr = dir "/front.dat"
    printf "# x=%s\ty=%s\tseries\tconfig\tparams; one block per (K, series), K-major\n", xcol, ycol > D
    printf "# Pareto front per K (higher %s, lower %s), x ascending: x\ty\tseries\tconfig\tparams\n", ycol, xcol > Fr
    printf "nk = %d\nns = %d\narray kval[%d]\narray present[%d]\narray ref[%d]\narray base[%d]\narray nfront[%d]\narray sname[%d]\n", nk, ns, nk, nk, nk, nk, nk, ns > V
    for (si = 1; si <= ns; si++) printf "sname[%d] = %s\n", si, gq(sname[si]) > V
    for (ki = 1; ki <= nk; ki++) {
        k = kv[ki]; pres = ""
        for (si = 1; si <= ns; si++) {
            cnt = 0
            printf "# K=%s series=%s\n", k, sname[si] > D
            for (i = 1; i <= np; i++) if (pk[i] == k && ps[i] == si) {
                printf "%s\t%s\t%s\t%s\t%s\n", fmt(px[i]), fmt(py[i]), sname[si], pcfg[i], ppar[i] > D; cnt++ }
            if (!cnt) printf "NaN\tNaN\n" > D
            printf "\n\n" > D
            if (cnt) pres = pres " " si
        }
        # Pareto front: sort by x ascending (ties: y descending), keep strict improvements of y.
        m = 0; delete ord
        for (i = 1; i <= np; i++) if (pk[i] == k) { ord[++m] = i; key1[i] = px[i]; key2[i] = py[i] }
        sort_ids(ord, m)
        printf "# K=%s\n", k > Fr
        best = ""; nfr = 0
        for (j = 1; j <= m; j++) { i = ord[j]
            if (best == "" || py[i] > best) { best = py[i]; nfr++
                printf "%s\t%s\t%s\t%s\t%s\n", fmt(px[i]), fmt(py[i]), sname[ps[i]], pcfg[i], ppar[i] > Fr } }
        printf "\n\n" > Fr
        printf "kval[%d] = %s\npresent[%d] = %s\nnfront[%d] = %d\n", ki, k, ki, gq(pres), ki, nfr > V
        printf "base[%d] = %s\n", ki, (k in basen) ? fmt(basesum[k] / basen[k]) : "NaN" > V
        if (k in basen) { if (basesum[k] / basen[k] < ymin) ymin = basesum[k] / basen[k]; if (basesum[k] / basen[k] > ymax) ymax = basesum[k] / basen[k] }
        printf "ref[%d] = %s\n", ki, (refval != "") ? fmt(refval + 0) : (k in refn) ? fmt(refsum[k] / refn[k]) : (refalln ? fmt(refall / refalln) : "NaN") > V
    }
    nqs = ""
    if (nqmax != "") nqs = (nqmin == nqmax) ? "mean over " nqmax " queries per point" : "means over " nqmin "-" nqmax " queries per point"
    printf "nq_text = %s\nymin = %s\nymax = %s\nxmax = %s\nhave_ref = %d\nhave_base = %d\n", gq(nqs), fmt(ymin), fmt(ymax), fmt(xmax), (refalln > 0 || refval != "" ? 1 : 0), (basealln > 0) > V
    printf "ref_label = %s\n", gq(refval != "" ? "full model (--ref " refval ")" : "full model (policy none)") > V
    if (kind == "ndcg-compute" && !refalln && refval == "") printf "%s: %s: no row with policy none (and no --ref): no full-model reference line\n", prog, input | "cat 1>&2"
}
function end_stability(    i, j, ord, D, same, mn, v) {
    for (i = 1; i <= np; i++) ord[i] = i
    sort_ids(ord, np)
    D = dir "/stability.dat"
    printf "# layer\tkendall_tau\tgk_gamma\tcluster_gamma\toverlap_at_10\n" > D
    same = 1; mn = 0; nval = 0
    for (j = 1; j <= np; j++) { i = ord[j]
        printf "%s\t%s\t%s\t%s\t%s\n", fmt(st_l[i]), fmt(st_tau[i]), fmt(st_g[i]), fmt(st_cg[i]), fmt(st_o[i]) > D
        if (!isnan(st_tau[i]) && !isnan(st_g[i])) { v = st_tau[i] - st_g[i]; if (v < 0) v = -v; if (v > 1e-9) same = 0 }
        if (!isnan(st_tau[i])) { nval++; if (st_tau[i] < mn) mn = st_tau[i] }
        if (!isnan(st_g[i])) { nval++; if (st_g[i] < mn) mn = st_g[i] }
        if (!isnan(st_cg[i])) { nval++; if (st_cg[i] < mn) mn = st_cg[i] }
        if (!isnan(st_o[i])) { nval++; if (st_o[i] < mn) mn = st_o[i] }
    }
    if (!nval) fail("every value is nan: nothing to plot")
    printf "tau_is_gamma = %d\nymin = %s\nlmin = %s\nlmax = %s\n", same, fmt(mn), fmt(st_l[ord[1]]), fmt(st_l[ord[np]]) > V
    printf "nq_text = %s\n", gq(nqmax != "" ? "mean over " nqmax " queries" : "") > V
}
function end_series(    i, j, ord, D, s) {
    if (np == 0) fail("no row has numeric values to plot")
    for (i = 1; i <= np; i++) ord[i] = i
    sort_ids(ord, np)     # by series, then x ascending (key2 = -x sorted descending)
    D = dir "/series.dat"
    s = 0
    for (j = 1; j <= np; j++) { i = ord[j]
        if (key1[i] != s) { if (s) printf "\n\n" > D; s = key1[i]; printf "# %s\n", sname[s] > D }
        printf "%s\t%s\n", fmt(px[i]), fmt(py[i]) > D }
    printf "\n\n" > D
    printf "ns = %d\narray sname[%d]\narray peak[%d]\n", ns, ns, ns > V
    for (s = 1; s <= ns; s++) printf "sname[%d] = %s\npeak[%d] = %s\n", s, gq(sname[s]), s, fmt(peak[s]) > V
    if (ndup) printf "%s: %s: %d repeated (system, n) row(s): plotted as they are (aggregate repeated runs first)\n", prog, input, ndup | "cat 1>&2"
}
function end_ablation(    i, D, ml, mm) {
    D = dir "/ablation.dat"
    printf "# index\tlatency_ms\tpeak_mib\n" > D
    ml = 0; mm = 0
    for (i = 1; i <= np; i++) {
        printf "%d\t%s\t%s\n", i, fmt(ab_l[i]), fmt(ab_m[i]) > D
        if (ab_l[i] > ml) ml = ab_l[i]; if (ab_m[i] > mm) mm = ab_m[i]
    }
    printf "nsteps = %d\narray step[%d]\nlat0 = %s\nmem0 = %s\nlatmax = %s\nmemmax = %s\n", np, np, fmt(ab_l[1]), fmt(ab_m[1]), fmt(ml), fmt(mm) > V
    for (i = 1; i <= np; i++) printf "step[%d] = %s\n", i, gq(ab_s[i]) > V
}
'

ycol=precision_at_k_vs_full
[ "$kind" = ndcg-compute ] && ycol=nDCG@10
PLOT_INPUT=$input PLOT_NOTE=$note PLOT_TITLE=$title LC_ALL=C awk -v prog="$prog" -v kind="$kind" -v req="$req" -v dir="$work" \
    -v xcol="$xcol" -v ycol="$ycol" -v klist="$klist" -v spec_s="$series" -v refval="$refval" \
    "$prep_awk" <"$input" || exit 1

gpq() { local q="'"; printf "'%s'" "${1//$q/$q$q}"; }
printf "xsel = %s\nlogaxes = %s\ndatadir = %s\nplotdir = %s\n" "$(gpq "$xsel")" "$(gpq "$logaxes")" "$(gpq "$work")" "$(gpq "$here")" >>"$work/vars.gp"

# ---------------------------------------------------------------------------
command -v gnuplot >/dev/null 2>&1 || die "gnuplot not found in PATH (Debian: apt-get install gnuplot-nox)"

# Draw: the same scripts once per terminal; outputs renamed into place only
# when gnuplot succeeded.
outdir=$(dirname -- "$out")
mkdir -p -- "$outdir" || die "cannot create the output directory $outdir"
run_gnuplot() { # TERMINAL_LINE OUTFILE
    local tmp="$2.tmp.$$"
    {
        printf '%s\n' "$1"
        printf "set output %s\n" "$(gpq "$tmp")"
    } >"$work/term.gp"
    if ! gnuplot "$work/term.gp" "$work/vars.gp" "$here/common.gp" "$here/$kind.gp" 2>"$work/gnuplot.err"; then
        rm -f -- "$tmp"
        cat "$work/gnuplot.err" >&2
        die "gnuplot failed drawing $kind from $input"
    fi
    [ -s "$tmp" ] || { rm -f -- "$tmp"; die "gnuplot wrote nothing to $2"; }
    grep -v '^[[:space:]]*$' "$work/gnuplot.err" >&2 || true
}
run_gnuplot 'set terminal pngcairo size 1200,800 font ",12"' "$out.png"
run_gnuplot 'set terminal svg size 1200,800 dynamic font ",12"' "$out.svg"
mv -f -- "$out.png.tmp.$$" "$out.png"
mv -f -- "$out.svg.tmp.$$" "$out.svg"

if [ "$keep" = 1 ]; then
    rm -rf -- "$out.data"
    mkdir -p -- "$out.data"
    cp -- "$work"/*.dat "$work/vars.gp" "$out.data/"
fi
printf '%s: wrote %s.png and %s.svg\n' "$prog" "$out" "$out"
