# ablation.gp - the incremental ablation: latency and peak memory after each
# step (rows in order, the first is the baseline), two bar charts side by side,
# each bar labelled with its value and the change vs the first step. Data from
# plot.sh: ablation.dat (index, latency_ms, peak_mib); vars: nsteps, step[]
# (tick labels), lat0, mem0 (first step), latmax, memmax.
fmtv(v) = (v >= 100) ? sprintf("%.0f", v) : sprintf("%.3g", v)
pct(v, base) = (v == base || base == 0) ? "" : sprintf("%+.1f%%", 100.0 * (v / base - 1))

set multiplot title title_text("Ablation: latency and peak memory as components are added (change vs the first step)") font ",14"
set style fill solid 0.85 border -1
set boxwidth 0.65
set xrange [0.4:nsteps + 0.6]
set xtics () scale 0 rotate by 25 right offset 1, 0
do for [i = 1:nsteps] { set xtics add (step[i] i) }
set grid noxtics ytics
set key off
set border 3

set lmargin at screen 0.08
set rmargin at screen 0.48
set tmargin at screen 0.84
set bmargin at screen 0.2
set title "Latency" font ",13"
set ylabel "Latency (ms)"
set yrange [0:latmax * 1.2]
plot for [i = 1:nsteps] dat('ablation.dat') every ::(i - 1)::(i - 1) using 1:2 with boxes ls i notitle, \
     dat('ablation.dat') using 1:2:(fmtv($2) . " ms") with labels offset 0, 2.1 center notitle, \
     dat('ablation.dat') using 1:2:(pct($2, lat0)) with labels offset 0, 0.9 center notitle

set lmargin at screen 0.585
set rmargin at screen 0.985
set title "Peak memory" font ",13"
set ylabel "Peak memory (MiB)"
set yrange [0:memmax * 1.2]
plot for [i = 1:nsteps] dat('ablation.dat') every ::(i - 1)::(i - 1) using 1:3 with boxes ls i notitle, \
     dat('ablation.dat') using 1:3:(fmtv($3) . " MiB") with labels offset 0, 2.1 center notitle, \
     dat('ablation.dat') using 1:3:(pct($3, mem0)) with labels offset 0, 0.9 center notitle
unset multiplot
