# latency-n.gp - latency against the number of candidates N, one line per
# system. Data from plot.sh: series.dat (one block per system, N ascending:
# n, latency_ms); vars: ns, sname[], logaxes ('', 'x', 'y' or 'xy').
set title title_text("Latency vs number of candidates N")
set xlabel "Number of candidates N" . (strstrt(logaxes, "x") ? " (log scale)" : "")
set ylabel "Latency per query (ms)" . (strstrt(logaxes, "y") ? " (log scale)" : "")
if (strstrt(logaxes, "x")) { set logscale x } else { set xrange [0:*] }
if (strstrt(logaxes, "y")) { set logscale y } else { set yrange [0:*] }
set offsets graph 0.02, graph 0.02, graph 0.05, 0
set key top left reverse Left width 1 samplen 3
plot for [s = 1:ns] dat('series.dat') index (s - 1) using 1:2 with linespoints ls s title sname[s]
