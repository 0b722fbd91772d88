# stability.gp - per-layer ranking stability vs the final ranking (grating
# stability --out): Kendall tau, Goodman-Kruskal gamma, cluster gamma, top-10
# overlap. Data from plot.sh: stability.dat (layer, tau, gamma, cluster gamma,
# overlap@10; NaN = no value, skipped); vars: lmin, lmax, ymin, tau_is_gamma.
sub = (strlen(nq_text) > 0) ? " (" . nq_text . ")" : ""
set title title_text("Ranking stability per layer vs the final ranking" . sub)
set xlabel "Layer (0 = embedding output; last = the model's final score)"
set ylabel "Agreement with the final ranking (1 = identical; unitless)"
set xrange [lmin - 0.3:lmax + 0.3]
set xtics 1
set yrange [(ymin < 0 ? floor(ymin * 10) / 10.0 - 0.05 : 0):1.05]
set ytics 0.1 format "%.1f"
# Legend under the x label, two columns across the width.
set lmargin at screen 0.075
set rmargin at screen 0.975
set bmargin at screen 0.2
set key at screen 0.5, 0.012 center bottom horizontal maxcols 2 reverse Left width 1 samplen 3
gamma_title = tau_is_gamma ? "Goodman-Kruskal γ (= τ here: no ties)" : "Goodman-Kruskal γ"
plot dat('stability.dat') using 1:2 with linespoints ls 1 pt 7 ps 1.4 title "Kendall τ-b", \
     ''                   using 1:3 with linespoints ls 2 lw 3 dt 2 pt 4 ps 2.2 title gamma_title, \
     ''                   using 1:4 with linespoints ls 3 pt 9 ps 1.6 title "cluster γ (pairs across 1-D K-Means clusters)", \
     ''                   using 1:5 with linespoints ls 4 dt 4 pt 5 ps 1.2 title "top-10 overlap |top-10 ∩ final top-10| / 10"
