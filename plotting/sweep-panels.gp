# sweep-panels.gp - one panel per K of a grating sweep (pareto.gp and
# ndcg-compute.gp set show_front, show_ref, y_is_fraction, ylab and
# default_title first). Data from plot.sh: points.dat (one block per
# (K, series), K-major), front.dat (one block per K); vars: nk, kval[], ns,
# sname[], present[] (series with points at each K), ref[] (mean of the rows
# with policy none at each K), base[] (the first-stage rows at each K, NaN
# when none), have_base, ymin, ymax, xmax, nq_text.

if (xsel eq 'latency') {
    xlab = "Predicted latency per query (ms): per-layer times of the measured full forward, scaled by the work done"
} else {
    if (xsel eq 'flops') {
        xlab = "Matmul FLOPs (fraction of the full forward's; full model = 1)"
    } else {
        xlab = "Candidate-layers computed (fraction of N × L; full model = 1)"
    }
}

# Shared axes: the same ranges in every panel, so that panels compare by eye.
lo = ymin
hi = ymax
if (show_ref && have_ref) {
    do for [i = 1:nk] { if (ref[i] == ref[i]) { lo = (ref[i] < lo) ? ref[i] : lo; hi = (ref[i] > hi) ? ref[i] : hi } }
}
ylo = floor((lo - 0.03) * 20) / 20.0
ylo = (ylo < 0) ? 0 : ylo
yhi = y_is_fraction ? ((hi <= 1) ? 1.02 : hi * 1.02) : ceil((hi + 0.03) * 20) / 20.0
set yrange [ylo:yhi]
set ytics format "%.2f"
if (xsel eq 'latency') {
    set xrange [0:xmax * 1.05]
    # about four labelled tics per panel, at 1, 2, 2.5 or 5 times a power of ten
    raw = xmax * 1.05 / 4.0
    mag = 10.0 ** floor(log10(raw))
    r = raw / mag
    xstep = (r <= 1 ? 1 : (r <= 2 ? 2 : (r <= 2.5 ? 2.5 : (r <= 5 ? 5 : 10)))) * mag
    set xtics xstep format "%g"
    set mxtics 2
} else {
    set xrange [0:(xmax > 1 ? xmax * 1.05 : 1.05)]
    set xtics 0.2 format "%.1f"
    set mxtics 2
}
set grid xtics ytics mxtics

# Layout (screen coordinates): panels in up to 3 columns, a shared x label
# under them, then a legend strip across the whole width.
front_title = "Pareto front (circled points)"
ref_title = ref_label
base_title = "first stage (no reranking)"
nkey = ns + (show_front ? 1 : 0) + ((show_ref && have_ref) ? 1 : 0) + (have_base ? 1 : 0)
maxlen = show_front ? strlen(front_title) : ((show_ref && have_ref) ? strlen(ref_title) : 0)
do for [s = 1:ns] { maxlen = (strlen(sname[s]) > maxlen) ? strlen(sname[s]) : maxlen }
maxlen = (have_base && strlen(base_title) > maxlen) ? strlen(base_title) : maxlen
kcols = int(1150.0 / ((maxlen + 8) * 7.5))
kcols = (kcols < 1) ? 1 : ((kcols > nkey) ? nkey : kcols)
krows = int((nkey + kcols - 1) / kcols)
kcols = int((nkey + krows - 1) / krows)
key_top = 0.03 * krows + 0.03
cols = (nk <= 3) ? nk : int((nk + 1) / 2)
rows = (nk <= 3) ? 1 : 2
L = 0.075
R = 0.985
T = 0.855
B = key_top + 0.095
hgap = 0.05
vgap = 0.13
pw = (R - L - (cols - 1) * hgap) / cols
ph = (T - B - (rows - 1) * vgap) / rows
sub = (strlen(nq_text) > 0) ? " (" . nq_text . ")" : ""

set multiplot title title_text(default_title . sub) font ",14"
unset key
do for [ki = 1:nk] {
    c = (ki - 1) % cols
    r = int((ki - 1) / cols)
    set lmargin at screen L + c * (pw + hgap)
    set rmargin at screen L + c * (pw + hgap) + pw
    set tmargin at screen T - r * (ph + vgap)
    set bmargin at screen T - r * (ph + vgap) - ph
    set title sprintf("K = %d", kval[ki]) . ((base[ki] == base[ki]) ? \
              ((show_ref && ref[ki] == ref[ki]) ? sprintf("  (full %.3f, 1st stage %.3f)", ref[ki], base[ki]) \
                                                 : sprintf("  (1st stage %.3f)", base[ki])) \
              : ((show_ref && ref[ki] == ref[ki]) ? sprintf("   (full model: %.3f)", ref[ki]) : "")) font ",13"
    unset label
    if (ki == 1) {
        set label 101 xlab at screen (L + R) / 2, B - 0.06 center
        set label 102 ylab at screen 0.015, (B + T) / 2 center rotate by 90
    }
    plot \
        for [d = 1:(show_ref && ref[ki] == ref[ki])] ref[ki] with lines lc rgb "#404040" lw 2 dt 2 notitle, \
        for [d = 1:(base[ki] == base[ki])] base[ki] with lines lc rgb "#a05000" lw 2 dt 3 notitle, \
        for [d = 1:show_front] dat('front.dat') index (ki - 1) using 1:2 with steps lc rgb "#303030" lw 2 notitle, \
        for [w in present[ki]] dat('points.dat') index ((ki - 1) * ns + w - 1) using 1:2 with points ls (w + 0) notitle, \
        for [d = 1:show_front] dat('front.dat') index (ki - 1) using 1:2 with points pt 6 ps 2.4 lw 1.5 lc rgb "#303030" notitle
}

# Legend strip.
unset label
unset title
unset border
unset tics
unset grid
set xrange [0:1]
set yrange [0:1]
set lmargin at screen 0.02
set rmargin at screen 0.98
set tmargin at screen key_top
set bmargin at screen 0.005
set key inside center center horizontal maxcols kcols reverse Left width 1 samplen 2.5 nobox
plot NaN notitle, \
    for [s = 1:ns] keyentry with points ls s title sname[s], \
    for [d = 1:show_front] keyentry with linespoints lc rgb "#303030" lw 2 pt 6 ps 2.4 title front_title, \
    for [d = 1:(show_ref && have_ref)] keyentry with lines lc rgb "#404040" lw 2 dt 2 title ref_title, \
    for [d = 1:have_base] keyentry with lines lc rgb "#a05000" lw 2 dt 3 title base_title
unset multiplot
