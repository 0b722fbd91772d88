# memory-timeline.gp - memory over time, one line per system. Data from
# plot.sh: series.dat (one block per system, t_ms ascending: t_ms, MiB);
# vars: ns, sname[], peak[] (MiB).
set title title_text("Memory over time")
set xlabel "Time since the start (ms)"
set ylabel "Memory in use (MiB = 2^20 bytes)"
set xrange [0:*]
set yrange [0:*]
set offsets 0, 0, graph 0.05, 0
# Legend under the x label, across the width.
set lmargin at screen 0.075
set rmargin at screen 0.975
set bmargin at screen 0.17
set key at screen 0.5, 0.012 center bottom horizontal maxcols 3 reverse Left width 1 samplen 3
# Steps: each sample's value holds until the next sample.
plot for [s = 1:ns] dat('series.dat') index (s - 1) using 1:2 with steps ls s \
     title sprintf("%s (peak %.1f MiB)", sname[s], peak[s])
